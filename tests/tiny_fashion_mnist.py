"""A tiny Fashion-MNIST folder (the four IDX .gz files) for tests: class-dependent patterns plus noise."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (magic 0x0000 08 ndim, big-endian sizes, data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def images_of(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """28x28 images whose bright band depends on the class, so a model can learn something."""
    images = rng.integers(0, 60, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row = 2 + 2 * int(label)
        images[i, row:row + 4, 4:24] = 200 + rng.integers(0, 50)
    return images


def write_fake_fashion_mnist(root: Path, train_per_class: int = 12, test_per_class: int = 3, seed: int = 0) -> Path:
    """Write the four .gz files into `root` (10 classes); returns `root`."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    train_labels = np.repeat(np.arange(10, dtype=np.uint8), train_per_class)
    test_labels = np.repeat(np.arange(10, dtype=np.uint8), test_per_class)
    arrays = (images_of(train_labels, rng), train_labels, images_of(test_labels, rng), test_labels)
    for name, array in zip(FILES, arrays):
        (root / name).write_bytes(gzip.compress(idx_bytes(array), mtime=0))
    return root


def tiny_demo_args(data: Path, cache: Path, out: Path, steps: int = 5, queries: int = 8, batch_size: int = 2) -> list[str]:
    """`hashattack demo` arguments for a run of a few seconds on the tiny folder."""
    return ["demo", "--data", str(data), "--cache-dir", str(cache), "--out", str(out), "--quiet",
            "--train-per-class", "5", "--epochs", "1", "--bits", "16", "--queries", str(queries),
            "--batch-size", str(batch_size), "--steps", str(steps), "--n-t", "3", "--topk", "50"]


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), to check nothing was written over."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
