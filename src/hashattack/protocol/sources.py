"""Turn a spec's data and model parts into a dataset and a model, with each dataset's defaults.

`open_data(DataSpec)` gives a `Source`: the dataset, and for open-set runs the query pool and the
target filter. `defaults_for(dataset)` holds the settings that depend on the data (ε and its
space, steps, R of MAP@R, the ε sweep of Table 2, the main zero-relevance convention): pixel-space
ε and the "zero" convention on the embedded data, the paper's normalised ε = 0.032, its Table 2
sweep and the official "drop" convention on the paper's datasets. `obtain_model(model, data, source)` obtains a model source
(`protocol.model_sources`: trained here and cached, a checkpoint, a user's module) with the dataset's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hashattack.data.base import RetrievalDataset
from hashattack.data.catalog import default_topk, open_dataset
from hashattack.data.image_files import load_images, split_queries
from hashattack.data.mosaic import DATABASE
from hashattack.data.moving_fashion import moving_fashion_retrieval
from hashattack.data.video_splits import video_retrieval
from hashattack.errors import InputError
from hashattack.models.torchvision_hash import BACKBONES
from hashattack.protocol.open_set import open_set_split
from hashattack.protocol.model_sources import ModelSource
from hashattack.protocol.spec import DataSpec
from hashattack.training.loop import PAPER_TRAIN_CONFIG, TrainConfig

PAPER_EPS = 0.032            # normalised space: the official code's ImageNet setting
EMBEDDED_EPS = 0.2           # pixel space, 28x28 grey Fashion-MNIST (docs/calibration.md)
VIDEO_EPS = 0.1              # pixel space, the embedded clips
VIDEO_STEPS = 200            # the embedded clips, with steps of 2000/200 (the paper's path length)
PAPER_STEPS = 2000
VIDEO_EPOCHS = 200
PAPER_BITS = (16, 32, 48, 64)
# The small CNN on the multi-label mosaics: HashNet's loss (appendix Table 1's model), the embedded optimiser,
# 30 epochs of the 3,252-object training sample (1,530 iterations, β raised to 2.8 by HashNet's continuation).
MOSAIC_TRAIN_CONFIG = TrainConfig(epochs=30, loss="hashnet")
PAPER_EPS_SWEEP = (0.01, 0.02, 0.03, 0.04, 0.05)     # appendix Table 2, normalised space
EMBEDDED_EPS_SWEEP = (0.02, 0.05, 0.1, 0.15, 0.2)    # pixel space, the embedded images and clips
PIXEL_EPS_SWEEP = (1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)   # pixel space, a user's images
# Datasets whose tables follow the paper's conventions: the official code's zero-relevance rule ("drop")
# in the main column. A dataset standing in for one of the paper's joins this list.
PAPER_CONVENTIONS = ("imagenet100", "nus-wide", "mosaic-fashion", "jhmdb", "ucf101")
TORCHVISION = tuple(BACKBONES)   # the torchvision backbones: appendix B's training recipe


@dataclass
class Source:
    """A dataset ready to attack, with the open-set restrictions when the spec asks for them."""

    dataset: RetrievalDataset
    query_pool: np.ndarray | None = None               # queries are drawn from these (None: all)
    target_filter: Callable | None = None              # a target label vector is allowed when True
    manifest_extra: dict = field(default_factory=dict)
    note: str = ""                                     # what a table caption should add


def defaults_for(dataset: str, mosaics: int = DATABASE) -> dict:
    """Attack and evaluation defaults of a dataset: eps, eps_space, steps, topk (on mosaic-fashion, of
    `mosaics` database objects), eps_sweep (appendix Table 2's values, or the dataset's equivalent, in
    eps_space) and zero_relevance (the convention of a table's main column: "drop", the official code's,
    on the paper's datasets and their stand-ins; "zero" on the others).
    The step size is 1.0 (the official unit step), or the paper's path length on the embedded clips."""
    official = {"zero_relevance": "drop" if dataset in PAPER_CONVENTIONS else "zero"}
    if dataset in ("fashion-mnist", "mosaic-fashion"):
        return {"eps": EMBEDDED_EPS, "eps_space": "pixel", "steps": PAPER_STEPS, "topk": default_topk(dataset, mosaics),
                "eps_sweep": EMBEDDED_EPS_SWEEP, **official}
    if dataset == "moving-fashion":
        return {"eps": VIDEO_EPS, "eps_space": "pixel", "steps": VIDEO_STEPS, "topk": 1000,
                "eps_sweep": EMBEDDED_EPS_SWEEP, **official}
    if dataset == "images":
        return {"eps": 8 / 255, "eps_space": "pixel", "steps": PAPER_STEPS, "topk": 1000,
                "eps_sweep": PIXEL_EPS_SWEEP, **official}
    return {"eps": PAPER_EPS, "eps_space": "normalized", "steps": PAPER_STEPS, "topk": default_topk(dataset),
            "eps_sweep": PAPER_EPS_SWEEP, **official}


def eps_sweep_for(dataset: str, eps_space: str | None = None) -> tuple[float, ...]:
    """The ε values of a Table 2 sweep on `dataset` in `eps_space` (default: the dataset's own space):
    the dataset's values in its own space, Table 2's 0.01-0.05 in normalised space, 1-16/255 in pixel space."""
    defaults = defaults_for(dataset)
    if eps_space is None or eps_space == defaults["eps_space"]:
        return defaults["eps_sweep"]
    return PAPER_EPS_SWEEP if eps_space == "normalized" else PIXEL_EPS_SWEEP


def path_length_step_size(steps: int) -> float:
    """The step factor that keeps the paper's total path length (2000 steps of 1.0) in `steps` steps."""
    return PAPER_STEPS / steps


def open_data(spec: DataSpec, seed: int = 0) -> Source:
    """The dataset of `spec` (and its open-set restriction); `seed` splits user images and videos."""
    name = spec.dataset
    if name in ("fashion-mnist", "mosaic-fashion", "imagenet100", "nus-wide"):
        if name in ("fashion-mnist", "mosaic-fashion") and any((spec.train_list, spec.database_list, spec.query_list)):
            raise InputError("--train-list/--database-list/--query-list apply to imagenet100 and nus-wide, "
                             f"not {name}")
        dataset = open_dataset(name, spec.root, spec.train_list, spec.database_list, spec.query_list,
                               train_per_class=spec.train_per_class, mosaics=spec.mosaics)
    elif name == "moving-fashion":
        dataset = moving_fashion_retrieval(spec.root, frames=spec.frames)
    elif name in ("jhmdb", "ucf101"):
        if spec.root is None:
            raise InputError(f"dataset {name} needs --root: the folder of its videos (<root>/<class>/<video>)")
        dataset = video_retrieval(name, spec.root, spec.lists, seed=seed)
    else:
        dataset = _user_images(spec, seed)
    if spec.seen_classes is None:
        return Source(dataset)
    split = open_set_split(dataset, spec.seen_classes)
    return Source(split.dataset, split.query_ids, split.is_unseen,
                  {"seen_classes": split.seen, "unseen_classes": split.unseen}, split.note)


def _user_images(spec: DataSpec, seed: int) -> RetrievalDataset:
    """A user's image folder or list file as the database, queries from `query_data` or split off it."""
    root = Path(spec.root)
    data, classes = load_images(root, None, spec.size, spec.channels)
    if spec.query_data is not None:
        database = data
        query, query_classes = load_images(spec.query_data, None, spec.size, spec.channels)
        if query.labels.shape[1] != database.labels.shape[1] or (root.is_dir() and query_classes != classes):
            raise InputError(f"{spec.query_data}: its classes differ from those of {root}")
        split = f"queries: {spec.query_data}"
    else:
        count = spec.query_split or max(1, len(data) // 10)
        database, query = split_queries(data, count, seed)
        split = f"{count} objects of {root} drawn with seed {seed}"
    if query.images.shape[1:] != database.images.shape[1:]:
        raise InputError(f"query images {tuple(query.images.shape[1:])} and database images "
                         f"{tuple(database.images.shape[1:])} differ in shape; give --size")
    return RetrievalDataset(f"images:{root.name}", database, database, query, classes,
                            {"database": f"{root} ({len(database)} objects)", "query": f"{split} ({len(query)} objects)",
                             "images": f"{spec.channels} channel(s), size {spec.size or 'as stored'}"})


def default_architecture(dataset: str) -> str:
    return {"imagenet100": "vgg11", "nus-wide": "vgg11", "moving-fashion": "lstm-frame-cnn", "jhmdb": "lstm-alexnet",
            "ucf101": "lstm-alexnet"}.get(dataset, "small-cnn")


def default_train_config(dataset: str, architecture: str) -> TrainConfig:
    """Appendix B's optimisers: VGG on images (lr 0.01, batch 24), SGD lr 0.05 / batch 100 / weight decay
    1e-4 with the DVH loss on videos; the embedded small CNN has its own (train.TrainConfig), with HashNet's
    loss on the multi-label mosaics (`MOSAIC_TRAIN_CONFIG`)."""
    if architecture.startswith("lstm-"):
        return TrainConfig(epochs=VIDEO_EPOCHS, batch_size=100, lr=0.05, momentum=0.9, weight_decay=1e-4, loss="dvh")
    if architecture in TORCHVISION:
        return PAPER_TRAIN_CONFIG
    if dataset == "mosaic-fashion":
        return MOSAIC_TRAIN_CONFIG
    return TrainConfig()


def with_defaults(model: ModelSource, data: DataSpec) -> ModelSource:
    """`model` with `data`'s defaults written in: a model trained here gets the dataset's default architecture
    and training settings where it has none; a checkpoint or a factory model is returned as it is."""
    return model.with_defaults(data.dataset, default_architecture, default_train_config)


def obtain_model(model: ModelSource, data: DataSpec, source: Source, device: str = "cpu",
                 progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on `device`, metadata) of `model` on `data` (opened as `source`), defaults written in."""
    return with_defaults(model, data).obtain(data, source, device, progress)


__all__ = ["Source", "open_data", "defaults_for", "eps_sweep_for", "path_length_step_size", "default_architecture",
           "default_train_config", "obtain_model", "with_defaults",
           "PAPER_EPS", "EMBEDDED_EPS", "PAPER_BITS", "PAPER_EPS_SWEEP", "PAPER_CONVENTIONS"]
