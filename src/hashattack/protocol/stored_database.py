"""A run against a database given as codes and labels (`.npy`), e.g. the index a search service holds.

The queries still come from the run's dataset (their pixels are attacked and encoded by the
model); the database is the stored codes and labels: targets and anchor objects are drawn from
its labels and t-MAP is scored against its codes. It has no pixels, so the feature-based attack
(which needs a target object's pixels) and the retrieval-strip figures are not available.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from hashattack.errors import InputError
from hashattack.data.base import LabeledSet
from hashattack.protocol.sources import Source
from hashattack.protocol.spec import RunSpec
from hashattack.retrieval.stored import load_database


@dataclass
class StoredCodesSet(LabeledSet):
    """A database known by its labels only (its codes are stored beside it); asking for pixels fails clearly."""

    source: str = ""

    def pixels(self, index) -> torch.Tensor:
        raise InputError(f"the database is given as codes ({self.source}): it has no pixels (the Feature method "
                         f"needs a target object's pixels); use the dataset's own database instead")

    def subset(self, index) -> "StoredCodesSet":
        return StoredCodesSet(None, self.labels[index], self.ids[index], (), self.source)


def with_stored_database(source: Source, spec: RunSpec) -> tuple[Source, torch.Tensor]:
    """(the source with its database replaced by the stored labels, the stored codes (N, K) ±1 float32)."""
    codes, labels = load_database(spec.database_codes, spec.database_labels)
    dataset = source.dataset
    if labels.shape[1] != dataset.query.labels.shape[1]:
        raise InputError(f"{spec.database_labels}: {labels.shape[1]} classes, but the queries of {dataset.name} have "
                         f"{dataset.query.labels.shape[1]}")
    database = StoredCodesSet(None, labels, torch.arange(len(labels)), (), str(spec.database_codes))
    protocol = {**dataset.protocol, "database": f"{len(labels)} stored codes {spec.database_codes} with labels "
                                                f"{spec.database_labels}"}
    return replace(source, dataset=replace(dataset, database=database, protocol=protocol)), codes


def check_code_length(codes: torch.Tensor, model: torch.nn.Module, query: torch.Tensor, what: str) -> None:
    """The stored codes must be as long as the model's codes."""
    with torch.no_grad():
        bits = int(model(query).shape[1])
    if codes.shape[1] != bits:
        raise InputError(f"{what} holds {codes.shape[1]}-bit codes, the model gives {bits} bits")


__all__ = ["StoredCodesSet", "with_stored_database", "check_code_length"]
