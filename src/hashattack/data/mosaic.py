"""Mosaic Fashion-MNIST: the embedded multi-label dataset, *derived* from real Fashion-MNIST items.

No multi-label benchmark ships offline, so one is made from the real Fashion-MNIST images, in the
shape of NUS-WIDE as HashNet and the paper use it (appendix C: the most frequent concepts,
multi-hot labels, random queries, the rest the database, a training sample drawn from the
database). Each object is a 28x28 grey 2x2 mosaic of four items, each item downsampled to 14x14
(2x2 mean); its label vector is the multi-hot union of the four items' classes, so an object
carries 1 to 4 of the 10 classes and two objects are relevant when they share one (as NUS-WIDE).

The label vectors are skewed like NUS-WIDE's concepts (a few very frequent, a long tail): an
object first draws how many distinct classes it holds, m in 1..4 with probabilities `sizes`
(default 0.5 / 0.3 / 0.15 / 0.05), then m distinct classes, each next one with probability
proportional to 1 / (rank + 1) ** `zipf` among those not drawn yet (Zipf's law over the classes
in their Fashion-MNIST order); the four quadrants hold one item of each drawn class and, for the
quadrants left, further items of those classes (repeats), in a random order. Items are drawn
uniformly within their class. Everything comes from `seed`, so a seed always gives the same set.

Protocol (NUS-WIDE in HashNet's lists: 2,100 queries, 193,734 database objects, 10,500 of them
for training, MAP@5000):
- query:    `queries` mosaics (default 1,000) of test-split items (no query shares an item with
            the database; drawn like the database, so they are a random sample of one distribution);
- database: `database` mosaics (default 60,000) of train-split items;
- train:    `train` objects drawn at random from the database (default: in NUS-WIDE's proportion,
            10,500 / 193,734 of the database, 3,252 of 60,000).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hashattack.data.base import LabeledSet, RetrievalDataset
from hashattack.data.fashion_mnist import CLASS_NAMES, EMBEDDED_EPS, EMBEDDED_EPS_SWEEP, load_fashion_mnist
from hashattack.data.registry import DatasetEntry, register_dataset
from hashattack.errors import InputError

NUS_WIDE_DATABASE = 193_734     # HashNet's NUS-WIDE lists: database, training sample, R of MAP@R
NUS_WIDE_TRAIN = 10_500
NUS_WIDE_TOPK = 5000
DATABASE = 60_000              # the defaults: the embedded Fashion-MNIST database's size, 1,000 queries
QUERIES = 1_000
SIZES = (0.5, 0.3, 0.15, 0.05)  # P(an object holds 1, 2, 3, 4 distinct classes)
ZIPF = 1.0


def proportional(nus_wide_count: int, database: int) -> int:
    """`nus_wide_count` scaled by |database| / |NUS-WIDE database|, rounded (at least 1)."""
    return max(1, round(nus_wide_count * database / NUS_WIDE_DATABASE))


def downsample(images: np.ndarray) -> np.ndarray:
    """uint8 items (n, 28, 28) -> (n, 14, 14), each pixel the rounded mean of a 2x2 block."""
    n, height, width = images.shape
    blocks = images.reshape(n, height // 2, 2, width // 2, 2).astype(np.float32).mean(axis=(2, 4))
    return np.rint(blocks).astype(np.uint8)


def draw_classes(count: int, rng: np.random.Generator, num_classes: int = len(CLASS_NAMES),
                 sizes=SIZES, zipf: float = ZIPF) -> np.ndarray:
    """The four quadrants' classes (count, 4) of `count` mosaics (see the module docstring)."""
    weights = 1.0 / np.arange(1, num_classes + 1) ** zipf
    distinct = rng.choice(len(sizes), size=count, p=np.asarray(sizes) / np.sum(sizes)) + 1
    keys = np.log(weights / weights.sum())[None] + rng.gumbel(size=(count, num_classes))
    ranked = np.argsort(-keys, axis=1)[:, :4]          # successive draws without replacement (Gumbel top-k)
    fill = rng.integers(0, distinct[:, None], size=(count, 4))   # a quadrant beyond the m-th repeats a drawn class
    slots = np.where(np.arange(4)[None] < distinct[:, None], np.arange(4)[None], fill)
    classes = np.take_along_axis(ranked, slots, axis=1)
    return np.take_along_axis(classes, rng.permuted(np.tile(np.arange(4), (count, 1)), axis=1), axis=1)


def draw_items(classes: np.ndarray, item_classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each quadrant's class, an item of that class drawn uniformly from `item_classes` -> (count, 4) ids."""
    items = np.empty(classes.shape, dtype=np.int64)
    for c in np.unique(classes):
        members = np.flatnonzero(item_classes == c)
        if not len(members):
            raise InputError(f"class {c} ({CLASS_NAMES[c]}) has no item to build mosaics from")
        where = classes == c
        items[where] = members[rng.integers(0, len(members), size=int(where.sum()))]
    return items


def render(tiles: np.ndarray, items: np.ndarray) -> torch.Tensor:
    """Mosaics uint8 (count, 1, 28, 28) of the 14x14 `tiles` chosen by `items` (count, 4), row by row."""
    chosen = tiles[items]                                              # (count, 4, 14, 14)
    top = np.concatenate([chosen[:, 0], chosen[:, 1]], axis=2)
    bottom = np.concatenate([chosen[:, 2], chosen[:, 3]], axis=2)
    return torch.from_numpy(np.concatenate([top, bottom], axis=1)[:, None].copy())


def multi_hot(classes: np.ndarray, num_classes: int = len(CLASS_NAMES)) -> torch.Tensor:
    """Quadrant classes (count, 4) -> their union as multi-hot label vectors (count, num_classes) uint8."""
    labels = np.zeros((len(classes), num_classes), dtype=np.uint8)
    labels[np.arange(len(classes))[:, None], classes] = 1
    return torch.from_numpy(labels)


def mosaics(images: np.ndarray, item_classes: np.ndarray, count: int, rng: np.random.Generator,
            sizes=SIZES, zipf: float = ZIPF) -> LabeledSet:
    """`count` mosaics of the given items (n, 28, 28) with classes (n,) (see the module docstring)."""
    classes = draw_classes(count, rng, len(CLASS_NAMES), sizes, zipf)
    items = draw_items(classes, item_classes, rng)
    return LabeledSet(render(downsample(images), items), multi_hot(classes), torch.arange(count))


def mosaic_fashion_retrieval(root: str | Path | None = None, database: int = DATABASE, queries: int = QUERIES,
                             train: int | None = None, sizes=SIZES, zipf: float = ZIPF,
                             seed: int = 0) -> RetrievalDataset:
    """The embedded multi-label dataset (see the module docstring)."""
    for name, value in (("database", database), ("queries", queries)):
        if not isinstance(value, int) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    train = proportional(NUS_WIDE_TRAIN, database) if train is None else train
    if not 0 < train <= database:
        raise InputError(f"train must be between 1 and the database's {database} objects, got {train}")
    if len(sizes) != 4 or min(sizes) < 0 or sum(sizes) <= 0:
        raise InputError(f"sizes must be 4 non-negative weights of 1..4 distinct classes, got {list(sizes)}")
    if not zipf >= 0:
        raise InputError(f"zipf must be a non-negative exponent, got {zipf}")
    arrays = load_fashion_mnist(root)
    rng = np.random.default_rng(seed)
    db = mosaics(arrays["train_images"][:, 0].numpy(), arrays["train_labels"].numpy(), database, rng, sizes, zipf)
    query = mosaics(arrays["test_images"][:, 0].numpy(), arrays["test_labels"].numpy(), queries, rng, sizes, zipf)
    train_set = db.subset(torch.from_numpy(np.sort(rng.choice(database, size=train, replace=False))))
    protocol = {
        "derived_from": "Fashion-MNIST (real images): 2x2 mosaics of items downsampled to 14x14, "
                        "label = union of the four items' classes",
        "sizes": [float(s) for s in sizes], "zipf": float(zipf), "seed": seed,
        "database": f"{database} mosaics of train-split items",
        "query": f"{queries} mosaics of test-split items",
        "train": f"{train} objects drawn from the database (NUS-WIDE's 10,500 / 193,734)",
    }
    return RetrievalDataset("mosaic-fashion", train_set, db, query, list(CLASS_NAMES), protocol)


def mosaic_topk(database: int = DATABASE) -> int:
    """R of MAP@R in HashNet's NUS-WIDE proportion: 5000 / 193,734 of the database (1,549 of 60,000)."""
    return proportional(NUS_WIDE_TOPK, database)


# NUS-WIDE's stand-in: its conventions ("drop", R in its proportion); HashNet's loss (appendix Table 1's model) with
# the embedded optimiser, 30 epochs of the 3,252-object training sample (1,530 iterations, β raised to 2.8).
register_dataset(DatasetEntry(
    name="mosaic-fashion", summary="mosaic-fashion (its multi-label mosaics)", options=("mosaics",),
    open=lambda spec, seed: mosaic_fashion_retrieval(spec.root, database=spec.mosaics),
    eps=EMBEDDED_EPS, eps_sweep=EMBEDDED_EPS_SWEEP, topk=lambda spec: mosaic_topk(spec.mosaics),
    zero_relevance="drop", train={"epochs": 30, "loss": "hashnet"}))

__all__ = ["mosaic_fashion_retrieval", "mosaic_topk", "proportional", "DATABASE", "QUERIES", "draw_classes", "downsample", "render", "multi_hot"]
