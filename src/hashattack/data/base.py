"""Containers shared by every dataset: labelled objects and the train / database / query split."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import PurePath

import torch


def one_hot(classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices (n,) -> one-hot label vectors (n, num_classes) as uint8."""
    out = torch.zeros(len(classes), num_classes, dtype=torch.uint8)
    out[torch.arange(len(classes)), classes.long()] = 1
    return out


@dataclass
class LabeledSet:
    """Objects with multi-hot labels.

    images: uint8 tensor (n, C, H, W) (pixels 0..255; `batch` turns them into floats in [0, 1]).
    labels: uint8 tensor (n, num_classes), one-hot or multi-hot.
    ids:    int64 tensor (n,), the object's index in its source split (for manifests).
    paths:  the objects' source files where they came from files (a user's folder or list), else ().
    """

    images: torch.Tensor
    labels: torch.Tensor
    ids: torch.Tensor
    paths: tuple = ()

    def __len__(self) -> int:
        return len(self.labels)

    def pixels(self, index: torch.Tensor | slice) -> torch.Tensor:
        """Float pixels in [0, 1] of the selected objects."""
        return self.images[index].float().div_(255.0)

    def subset(self, index: torch.Tensor) -> "LabeledSet":
        chosen = torch.arange(len(self))[index].reshape(-1).tolist() if self.paths else []
        return LabeledSet(self.images[index], self.labels[index], self.ids[index], tuple(self.paths[i] for i in chosen))


@dataclass
class RetrievalDataset:
    """A retrieval benchmark: objects to train on, the database searched, and the queries."""

    name: str
    train: LabeledSet
    database: LabeledSet
    query: LabeledSet
    class_names: list[str] = field(default_factory=list)
    protocol: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return self.database.labels.shape[1]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.database.images.shape[1:])


def source_names(objects: LabeledSet, index) -> list[str]:
    """Names of the selected objects after their source files: the path relative to the files' common
    folder without its suffix (`shirt/0042`), or `query-<id>` where there are no files (the object's
    index in its set). Names are unique: a repeated one gets `-<id>` appended."""
    chosen = [int(i) for i in torch.as_tensor(index).reshape(-1)]
    paths = [PurePath(p) for p in getattr(objects, "paths", ()) or ()]
    if not paths:
        return [f"query-{i}" for i in chosen]
    common = PurePath(os.path.commonpath([str(p.parent) for p in paths])) if len(paths) > 1 else paths[0].parent
    names = [paths[i].relative_to(common).with_suffix("").as_posix() for i in chosen]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [f"{name}-{i}" if seen[name] > 1 else name for name, i in zip(names, chosen)]
