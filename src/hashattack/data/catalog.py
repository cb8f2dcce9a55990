"""Datasets by name: the embedded Fashion-MNIST default, its multi-label mosaics, and ImageNet-100 / NUS-WIDE
from list files."""

from __future__ import annotations

from pathlib import Path

from hashattack.data.base import RetrievalDataset
from hashattack.data.fashion_mnist import fashion_mnist_retrieval
from hashattack.data.image_list import CROP_SIZE, DATASETS, RESIZE_SIZE, list_retrieval
from hashattack.data.mosaic import DATABASE, mosaic_fashion_retrieval, mosaic_topk
from hashattack.errors import InputError

DATASET_NAMES = ("fashion-mnist", "mosaic-fashion") + tuple(DATASETS)


def open_dataset(name: str = "fashion-mnist", root: str | Path | None = None, train_list=None, database_list=None,
                 query_list=None, train_per_class: int = 2000, seed: int = 0, resize_size: int = RESIZE_SIZE,
                 crop_size: int = CROP_SIZE, mosaics: int = DATABASE) -> RetrievalDataset:
    """The retrieval dataset `name`. Fashion-MNIST and its mosaics read the IDX files from `root` (default: the
    Debian package's folder; `mosaics`: the mosaics' database size); the list-file datasets need `root` (see `data.image_list.list_retrieval`)."""
    if name == "fashion-mnist":
        return fashion_mnist_retrieval(root, train_per_class=train_per_class, seed=seed)
    if name == "mosaic-fashion":
        return mosaic_fashion_retrieval(root, database=mosaics, seed=seed)
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}: choose from {', '.join(DATASET_NAMES)}")
    if root is None:
        raise InputError(f"dataset {name} needs --root: the folder its list files' image paths are relative to")
    return list_retrieval(name, root, train_list, database_list, query_list, resize_size, crop_size)


def default_topk(name: str, mosaics: int = DATABASE) -> int:
    """R of MAP@R: 5000 for NUS-WIDE (HashNet's convention), the same share of the database on its embedded
    analogue (1,549 of the mosaics' 60,000), 1000 otherwise."""
    if name == "mosaic-fashion":
        return mosaic_topk(mosaics)
    return DATASETS.get(name, {}).get("topk", 1000)
