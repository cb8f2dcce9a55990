"""Moving Fashion-MNIST: the embedded default video dataset, *derived* from real Fashion-MNIST.

No video benchmark ships offline, so clips are made from the real Fashion-MNIST images: each
clip shows one 28x28 item moving in a straight line across a `canvas` x `canvas` black frame
over `frames` frames, from a random start to a random end position; its label is the item's
class. Everything (items, paths) is drawn from `seed`, so a seed always gives the same clips.

Protocol, the small-scale analogue of JHMDB's (appendix C; train, query and database disjoint):
- train:    `train_per_class` clips per class, items from the Fashion-MNIST train split;
- database: `database_per_class` clips per class, other items of the train split;
- query:    `query_per_class` clips per class, items from the test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hashattack.data.base import RetrievalDataset, one_hot
from hashattack.data.fashion_mnist import CLASS_NAMES, EMBEDDED_EPS_SWEEP, load_fashion_mnist
from hashattack.data.registry import DatasetEntry, register_dataset
from hashattack.data.video import VideoSet
from hashattack.errors import InputError

ITEM = 28
VIDEO_EPS = 0.1              # pixel space, the embedded clips
VIDEO_STEPS = 200            # with steps of 2000/200: the paper's path length


def clip_paths(count: int, frames: int, canvas: int, rng: np.random.Generator) -> np.ndarray:
    """Top-left positions (count, frames, 2) of straight moves between two random points of the canvas."""
    room = canvas - ITEM
    start = rng.integers(0, room + 1, size=(count, 1, 2))
    end = rng.integers(0, room + 1, size=(count, 1, 2))
    fraction = np.linspace(0.0, 1.0, frames)[None, :, None] if frames > 1 else np.zeros((1, 1, 1))
    return np.rint(start + (end - start) * fraction).astype(np.int64)


def render_clips(items: np.ndarray, paths: np.ndarray, canvas: int) -> torch.Tensor:
    """Items uint8 (n, 28, 28) placed along their paths (n, T, 2) -> clips uint8 (n, T, 1, canvas, canvas)."""
    n, frames = paths.shape[:2]
    clips = np.zeros((n, frames, 1, canvas, canvas), dtype=np.uint8)
    for i in range(n):
        for t in range(frames):
            y, x = paths[i, t]
            clips[i, t, 0, y:y + ITEM, x:x + ITEM] = items[i]
    return torch.from_numpy(clips)


def make_clips(images: np.ndarray, frames: int, canvas: int, seed: int) -> torch.Tensor:
    """Clips of the given items (n, 28, 28), paths drawn from `seed` (see `clip_paths`)."""
    return render_clips(images, clip_paths(len(images), frames, canvas, np.random.default_rng(seed)), canvas)


def _draw(classes: np.ndarray, counts: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint index sets, per class `counts[k]` items of each class for set k, in a random order."""
    chosen = [[] for _ in counts]
    for c in np.unique(classes):
        members = rng.permutation(np.flatnonzero(classes == c))
        if len(members) < sum(counts):
            raise InputError(f"class {c} has {len(members)} items, fewer than the {sum(counts)} the protocol needs")
        start = 0
        for k, count in enumerate(counts):
            chosen[k].append(members[start:start + count])
            start += count
    return [np.sort(np.concatenate(parts)) for parts in chosen]


def moving_fashion_retrieval(root: str | Path | None = None, frames: int = 16, canvas: int = 32,
                             train_per_class: int = 100, database_per_class: int = 200,
                             query_per_class: int = 50, seed: int = 0) -> RetrievalDataset:
    """The embedded default video dataset (see the module docstring)."""
    for name, value in (("frames", frames), ("train_per_class", train_per_class),
                        ("database_per_class", database_per_class), ("query_per_class", query_per_class)):
        if not isinstance(value, int) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if canvas < ITEM:
        raise InputError(f"canvas must be at least {ITEM} pixels, got {canvas}")
    arrays = load_fashion_mnist(root)
    rng = np.random.default_rng(seed)
    train_classes = arrays["train_labels"].numpy()
    test_classes = arrays["test_labels"].numpy()
    train_items, db_items = _draw(train_classes, [train_per_class, database_per_class], rng)
    (query_items,) = _draw(test_classes, [query_per_class], rng)
    seeds = rng.integers(0, 2**31 - 1, size=3)
    n_classes = len(CLASS_NAMES)

    def build(images: torch.Tensor, classes: np.ndarray, items: np.ndarray, clip_seed: int) -> VideoSet:
        clips = make_clips(images[items, 0].numpy(), frames, canvas, int(clip_seed))
        labels = one_hot(torch.from_numpy(classes[items]), n_classes)
        return VideoSet(clips, labels, torch.arange(len(items)))

    train = build(arrays["train_images"], train_classes, train_items, seeds[0])
    database = build(arrays["train_images"], train_classes, db_items, seeds[1])
    query = build(arrays["test_images"], test_classes, query_items, seeds[2])
    protocol = {
        "derived_from": "Fashion-MNIST (real images), one item moving per clip",
        "frames": frames, "canvas": canvas, "seed": seed,
        "train": f"{train_per_class} clips per class, train-split items",
        "database": f"{database_per_class} clips per class, other train-split items",
        "query": f"{query_per_class} clips per class, test-split items",
    }
    return RetrievalDataset("moving-fashion", train, database, query, list(CLASS_NAMES), protocol)


register_dataset(DatasetEntry(
    name="moving-fashion", summary="moving-fashion (embedded clips)", video=True, options=("frames",),
    open=lambda spec, seed: moving_fashion_retrieval(spec.root, frames=spec.frames),
    eps=VIDEO_EPS, steps=VIDEO_STEPS, step_size=None, eps_sweep=EMBEDDED_EPS_SWEEP, architecture="lstm-frame-cnn",
    frame_root=True))
