"""Tiny on-disk datasets for the paper-scale tests: PIL image folders and list files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, size: int = 40, value: int = 0, seed: int = 0) -> Path:
    """A small RGB JPEG/PNG whose pixels are noise around `value` (so classes can differ)."""
    rng = np.random.default_rng(seed)
    array = np.clip(rng.normal(value, 30, size=(size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_list(path: Path, rows: list[tuple[str, list[int]]]) -> Path:
    path.write_text("".join(f"{name} {' '.join(map(str, labels))}\n" for name, labels in rows))
    return path


def image_list_dataset(root: Path, classes: int = 3, per_class: int = 8, queries_per_class: int = 2,
                       size: int = 40) -> Path:
    """root/img/c<k>_<i>.png with one-hot list files train.txt (3 per class), database.txt, test.txt."""
    rows = {"train": [], "database": [], "query": []}
    for c in range(classes):
        label = [int(c == k) for k in range(classes)]
        for i in range(per_class + queries_per_class):
            name = f"img/c{c}_{i}.png"
            write_image(root / name, size, value=40 + 80 * c, seed=c * 100 + i)
            split = "query" if i >= per_class else "database"
            rows[split].append((name, label))
            if i < 3:
                rows["train"].append((name, label))
    write_list(root / "train.txt", rows["train"])
    write_list(root / "database.txt", rows["database"])
    write_list(root / "test.txt", rows["query"])
    return root
