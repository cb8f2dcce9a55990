"""Helpers for tests of whole runs: tiny `hashattack demo` arguments and snapshots of run folders."""

from __future__ import annotations

from pathlib import Path


def tiny_demo_args(data: Path, cache: Path, out: Path, steps: int = 5, queries: int = 8, batch_size: int = 2) -> list[str]:
    """`hashattack demo` arguments for a run of a few seconds on the tiny Fashion-MNIST folder of conftest."""
    return ["demo", "--data", str(data), "--cache-dir", str(cache), "--out", str(out), "--quiet",
            "--train-per-class", "5", "--epochs", "1", "--bits", "16", "--queries", str(queries),
            "--batch-size", str(batch_size), "--steps", str(steps), "--n-t", "3", "--topk", "50"]


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), to check that nothing was written over."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
