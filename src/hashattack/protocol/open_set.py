"""Open-set targets (appendix Fig. 2): the model trains on some classes only, and every target
label is one it never saw in training."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from hashattack.data.base import RetrievalDataset
from hashattack.errors import InputError


@dataclass
class OpenSetSplit:
    """A dataset whose training set holds only the `seen` classes, with the queries and targets of the open-set run."""

    dataset: RetrievalDataset
    seen: list[int]
    unseen: list[int]
    query_ids: np.ndarray
    note: str = ""

    def is_unseen(self, label_vector: np.ndarray) -> bool:
        """A target label is open-set when none of its classes was seen in training."""
        return not np.asarray(label_vector)[self.seen].any()


def open_set_split(dataset: RetrievalDataset, seen: list[int] | None = None) -> OpenSetSplit:
    """Restrict training to the `seen` classes (default: the first half of the classes).

    Training objects and queries: those whose labels all lie in `seen`; targets: label vectors with
    no seen class. The database keeps every object (the system searches all of it).
    """
    num_classes = dataset.num_classes
    seen = sorted(set(range(num_classes // 2) if seen is None else (int(c) for c in seen)))
    if not seen or seen[0] < 0 or seen[-1] >= num_classes or len(seen) == num_classes:
        raise InputError(f"seen classes must be a proper, non-empty subset of 0..{num_classes - 1}, got {seen}")
    unseen = [c for c in range(num_classes) if c not in seen]

    def only_seen(labels: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(labels[:, unseen].sum(1) == 0).flatten()

    train = dataset.train.subset(only_seen(dataset.train.labels))
    query_ids = only_seen(dataset.query.labels).numpy()
    if len(train) == 0 or len(query_ids) == 0:
        raise InputError(f"no training objects or queries carry only the seen classes {seen}")
    names = lambda classes: ", ".join(dataset.class_names[c] for c in classes) if dataset.class_names else str(classes)
    protocol = {**dataset.protocol, "train": f"{dataset.protocol.get('train', 'train split')}, "
                                            f"restricted to the seen classes {seen} ({names(seen)})",
                "open_set": "queries of seen classes only; targets carry none of the seen classes"}
    restricted = replace(dataset, name=f"{dataset.name}-seen{'_'.join(map(str, seen))}", train=train,
                         protocol=protocol)
    note = (f"open set: model trained on classes {seen} ({names(seen)}); every target label among the unseen "
            f"classes {unseen} ({names(unseen)}); queries of seen classes")
    return OpenSetSplit(restricted, seen, unseen, query_ids, note)


__all__ = ["OpenSetSplit", "open_set_split"]
