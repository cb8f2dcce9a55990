"""Helpers for tests of whole runs: tiny `hashattack demo` arguments and snapshots of run folders."""

from __future__ import annotations

from pathlib import Path

from hashattack.cli.main import main


def tiny_demo_args(data: Path, cache: Path, out: Path, steps: int = 5, queries: int = 8, batch_size: int = 2) -> list[str]:
    """`hashattack demo` arguments for a run of a few seconds on the tiny Fashion-MNIST folder of conftest."""
    return ["demo", "--data", str(data), "--cache-dir", str(cache), "--out", str(out), "--quiet",
            "--train-per-class", "5", "--epochs", "1", "--bits", "16", "--queries", str(queries),
            "--batch-size", str(batch_size), "--steps", str(steps), "--n-t", "3", "--topk", "50"]


TRAINING_VALUES = ("--arch", "--epochs", "--lr", "--loss", "--train-batch-size", "--train-seed")


def without_training(args: list) -> list:
    """`args` without the options of a model trained here (and their values): a checkpoint refuses them."""
    out, skip = [], False
    for arg in args:
        if skip or str(arg) in TRAINING_VALUES:
            skip = not skip
            continue
        out.append(arg)
    return out


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), to check that nothing was written over."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hostile_demo_args(data: Path, cache: Path, out: Path, *extra, steps: int = 2) -> list[str]:
    """A 4-query run (2 batches of 2 per method, both keeping example pixels) without figures."""
    return tiny_demo_args(data, cache, out, steps=steps, queries=4) + ["--no-figures", *extra]


def cli(args, capsys) -> tuple[int, str, str]:
    """The CLI's exit code, stdout and stderr for `args`."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    """`err`, asserted to be one line and no traceback."""
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err
