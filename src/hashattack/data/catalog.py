"""Datasets by name, for direct use: `open_dataset` opens any registered dataset (`data.registry`) from
keyword options, `default_topk` gives its R of MAP@R."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hashattack.data.base import RetrievalDataset
from hashattack.data.mosaic import DATABASE
from hashattack.data.registry import dataset_entry

@dataclass(frozen=True)
class _Options:
    """The data-spec options an entry's `open` reads, for callers without a `protocol.spec.DataSpec`."""

    root: str | Path | None = None
    train_list: str | Path | None = None
    database_list: str | Path | None = None
    query_list: str | Path | None = None
    lists: str | Path | None = None
    train_per_class: int = 2000
    frames: int = 16
    query_data: str | Path | None = None
    query_split: int | None = None
    size: int | None = None
    channels: int = 3
    mosaics: int = DATABASE

def open_dataset(name: str = "fashion-mnist", root: str | Path | None = None, train_list=None, database_list=None,
                 query_list=None, seed: int = 0, **options) -> RetrievalDataset:
    """The registered dataset `name` (Fashion-MNIST and its mosaics read the IDX files from `root`, default the
    Debian package's folder; the list-file and video datasets need `root`); `options`: its other data options."""
    return dataset_entry(name).open(_Options(root, train_list, database_list, query_list, **options), seed)

def default_topk(name: str, mosaics: int = DATABASE) -> int:
    """R of MAP@R of dataset `name` (on mosaic-fashion, of `mosaics` database mosaics)."""
    return dataset_entry(name).topk_for(_Options(mosaics=mosaics))

__all__ = ["open_dataset", "default_topk"]
