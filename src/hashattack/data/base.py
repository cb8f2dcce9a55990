"""Containers shared by every dataset: labelled objects and the train / database / query split."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """

    images: torch.Tensor
    labels: torch.Tensor
    ids: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def pixels(self, index: torch.Tensor | slice) -> torch.Tensor:
        """Float pixels in [0, 1] of the selected objects."""
        return self.images[index].float().div_(255.0)

    def subset(self, index: torch.Tensor) -> "LabeledSet":
        return LabeledSet(self.images[index], self.labels[index], self.ids[index])


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
