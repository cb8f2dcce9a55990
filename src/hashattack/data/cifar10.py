"""CIFAR-10 from its binary version (`cifar-10-batches-bin`), the victims' dataset of most later hashing work.

Read from the folder holding `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin` (or its
parent): each file is 10,000 records of 3,073 bytes, a label byte 0–9 and a 32×32 RGB image stored
as 1,024 red, 1,024 green and 1,024 blue bytes, row by row. The binary version is read because it is
plain bytes; the Python version is a pickle, which would run code from the file.

The retrieval protocol is the one DPSH (Li et al., IJCAI 2016) set and DSDH, HashNet's successors and
DeepHash-pytorch ("cifar10-1") keep: 100 images per class of the 60,000 as queries (1,000), 500 per
class of the rest as the training set (5,000), the 59,000 non-queries as the database; MAP over the
whole database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.fashion_mnist import sample_per_class
from hashattack.data.registry import ALL, DatasetEntry, register_dataset
from hashattack.errors import InputError
from hashattack.validation import read_bytes

FOLDER = "cifar-10-batches-bin"
FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
RECORD = 1 + 3 * 32 * 32
RECORDS_PER_FILE = 10_000
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
QUERIES_PER_CLASS = 100
TRAIN_PER_CLASS = 500


def batches_folder(root: str | Path) -> Path:
    """The folder holding the six batch files: `root` itself or its `cifar-10-batches-bin`."""
    root = Path(root)
    for folder in (root, root / FOLDER):
        if all((folder / name).is_file() for name in FILES):
            return folder
    missing = [name for name in FILES if not (root / name).is_file()]
    raise InputError(f"CIFAR-10 not found in {root} (missing {', '.join(missing)}): give the folder of the binary "
                     f"version ({FOLDER}, from cifar-10-binary.tar.gz)")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images uint8 (n, 3, 32, 32) and labels int64 (n,). The real files hold 10,000 records;
    fewer are read (small test copies), more, a partial record or a label outside 0..9 are refused."""
    data = read_bytes(path, "CIFAR-10 batch file", RECORD * RECORDS_PER_FILE)
    if not data or len(data) % RECORD:
        raise InputError(f"{path}: {len(data):,} bytes is not a whole number of {RECORD:,}-byte records; a CIFAR-10 "
                         f"binary batch holds {RECORDS_PER_FILE:,} of them")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CLASS_NAMES):
        raise InputError(f"{path}: label {labels.max()} outside 0..9; not a CIFAR-10 batch file")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def cifar10_retrieval(root: str | Path, seed: int = 0, queries_per_class: int = QUERIES_PER_CLASS,
                      train_per_class: int = TRAIN_PER_CLASS) -> RetrievalDataset:
    """CIFAR-10 under DPSH's protocol (see the module docstring), the draws made with `seed`."""
    folder = batches_folder(root)
    parts = [read_batch(folder / name) for name in FILES]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    classes = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    objects = LabeledSet(images, one_hot(classes, len(CLASS_NAMES)), torch.arange(len(classes)))
    query_ids = sample_per_class(classes, queries_per_class, seed)
    rest = torch.ones(len(classes), dtype=torch.bool)
    rest[query_ids] = False
    database_ids = torch.nonzero(rest).flatten()
    train_ids = database_ids[sample_per_class(classes[database_ids], train_per_class, seed + 1)]
    protocol = {"query": f"{queries_per_class} per class of the 60,000 ({len(query_ids):,}), seed {seed}",
                "database": f"the other images ({len(database_ids):,})",
                "train": f"{train_per_class} per class of the database ({len(train_ids):,}), seed {seed + 1}"}
    return RetrievalDataset("cifar10", objects.subset(train_ids), objects.subset(database_ids),
                            objects.subset(query_ids), list(CLASS_NAMES), protocol)


def _needs_root(spec) -> None:
    if spec.root is None:
        raise InputError(f"dataset cifar10 needs --data: the folder of CIFAR-10's binary version ({FOLDER})")


register_dataset(DatasetEntry(
    name="cifar10", summary="cifar10 (its binary batches, DPSH's split)", check=_needs_root,
    open=lambda spec, seed: cifar10_retrieval(spec.root, seed=seed), topk=ALL))
