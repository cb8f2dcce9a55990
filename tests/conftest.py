"""Shared fixtures: a tiny Fashion-MNIST-shaped folder and a tiny trained model, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")   # tiny tensors: one thread is faster and deterministic

import numpy as np
import pytest
import torch

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

from hashattack.data.fashion_mnist import FILES, write_idx


def make_fake_fashion_mnist(root: Path, train_per_class: int = 12, test_per_class: int = 4, seed: int = 0) -> Path:
    """Write the four IDX .gz files of a tiny Fashion-MNIST look-alike: each class is a bright
    block at its own place, plus noise, so a small model separates the classes quickly."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)

    def split(per_class: int):
        labels = np.repeat(np.arange(10), per_class)
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(len(labels), 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            r, col = divmod(int(c), 5)
            images[i, 4 + 12 * r: 12 + 12 * r, 1 + 5 * col: 6 + 5 * col] = 230
        return images, labels.astype(np.uint8)

    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
        images, labels = split(per_class)
        write_idx(root / FILES[f"{name}_images"], images)
        write_idx(root / FILES[f"{name}_labels"], labels)
    return root


@pytest.fixture(scope="session")
def fake_fmnist(tmp_path_factory) -> Path:
    return make_fake_fashion_mnist(tmp_path_factory.mktemp("fmnist"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never read or write the user's trained-model cache from a test."""
    monkeypatch.setenv("HASHATTACK_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
