"""Turn a spec's data and model parts into a dataset and a model.

`open_data(DataSpec)` gives a `Source`: the dataset its registry entry opens (`data.registry`), and
for open-set runs the query pool and the target filter. `default_architecture` / `default_train_config`
are the model a dataset trains by default (its entry) and that architecture's recipe.
`obtain_model(model, data, source)` obtains a model source (`protocol.model_sources`: trained here and
cached, a checkpoint, a user's module) with the dataset's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hashattack.data.base import RetrievalDataset
from hashattack.data.registry import dataset_entry
from hashattack.errors import InputError
from hashattack.models.torchvision_hash import BACKBONES
from hashattack.protocol.open_set import open_set_split
from hashattack.protocol.model_sources import ModelSource
from hashattack.protocol.spec import DataSpec
from hashattack.training.loop import PAPER_TRAIN_CONFIG, TrainConfig

VIDEO_EPOCHS = 200
PAPER_BITS = (16, 32, 48, 64)
TORCHVISION = tuple(BACKBONES)   # the torchvision backbones: appendix B's training recipe


@dataclass
class Source:
    """A dataset ready to attack, with the open-set restrictions when the spec asks for them."""

    dataset: RetrievalDataset
    query_pool: np.ndarray | None = None               # queries are drawn from these (None: all)
    target_filter: Callable | None = None              # a target label vector is allowed when True
    manifest_extra: dict = field(default_factory=dict)
    note: str = ""                                     # what a table caption should add


def open_data(spec: DataSpec, seed: int = 0) -> Source:
    """The dataset of `spec` (and its open-set restriction); `seed` splits user images and videos."""
    dataset = spec.entry.open(spec, seed)
    if spec.seen_classes is None:
        return Source(dataset)
    split = open_set_split(dataset, spec.seen_classes)
    return Source(split.dataset, split.query_ids, split.is_unseen,
                  {"seen_classes": split.seen, "unseen_classes": split.unseen}, split.note)


def default_architecture(dataset: str) -> str:
    """The architecture trained on `dataset` when none is given (its registry entry's)."""
    return dataset_entry(dataset).architecture


def default_train_config(dataset: str, architecture: str) -> TrainConfig:
    """Appendix B's optimisers: VGG on images (lr 0.01, batch 24), SGD lr 0.05 / batch 100 / weight decay
    1e-4 with the DVH loss on videos; the other architectures (the small CNN, LeNet) train with the
    dataset's recipe (its entry's `train`: HashNet's loss on the multi-label mosaics), else TrainConfig's."""
    if architecture.startswith("lstm-"):
        return TrainConfig(epochs=VIDEO_EPOCHS, batch_size=100, lr=0.05, momentum=0.9, weight_decay=1e-4, loss="dvh")
    if architecture in TORCHVISION:
        return PAPER_TRAIN_CONFIG
    return TrainConfig(**dataset_entry(dataset).train)


def with_defaults(model: ModelSource, data: DataSpec) -> ModelSource:
    """`model` with `data`'s defaults written in: a model trained here gets the dataset's default architecture
    and training settings where it has none; a checkpoint or a factory model is returned as it is."""
    return model.with_defaults(data.dataset, default_architecture, default_train_config)


def obtain_model(model: ModelSource, data: DataSpec, source: Source, device: str = "cpu",
                 progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on `device`, metadata) of `model` on `data` (opened as `source`), defaults written in."""
    return with_defaults(model, data).obtain(data, source, device, progress)


__all__ = ["Source", "open_data", "default_architecture", "default_train_config", "obtain_model", "with_defaults",
           "PAPER_BITS"]
