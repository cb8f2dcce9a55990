"""Where a run's batch records live while it runs: `MemoryBatches` keeps them in memory (a run
without a folder) and is the interface `protocol.runfolder.RunFolder` implements on disk."""

from __future__ import annotations

import torch

from hashattack.errors import InputError
from hashattack.protocol.batch_files import BATCH_FORMAT, check_pixels
from hashattack.protocol.fingerprint import canonical

FORCE_HINT = "use --force (force=True) to start over, or another run folder"


def checked_examples(pixels: torch.Tensor | None, shape: tuple[int, ...], what: str) -> torch.Tensor:
    why = check_pixels(pixels, shape)
    if why is not None:
        raise InputError(f"the adversarial examples of {what}: {why}; {FORCE_HINT}")
    return pixels


class MemoryBatches:
    """Batch records kept in memory (a run without a folder); same interface as `RunFolder`."""

    def __init__(self):
        self._records: dict[tuple[str, int], dict] = {}
        self.reused: dict[str, int] = {}       # per method: batches found already finished
        self.computed: dict[str, int] = {}     # per method: batches attacked by this call
        self.seconds: dict[str, float] = {}    # per method: attack seconds of every batch record
        self._examples: dict[tuple[str, int], torch.Tensor] = {}

    def _count(self, counter: dict[str, int], record: dict) -> None:
        method = record["method"]
        counter[method] = counter.get(method, 0) + 1
        self.seconds[method] = self.seconds.get(method, 0.0) + float(record.get("seconds", 0.0))

    def load_batch(self, method: str, index: int, query_ids: list[int],
                   examples_shape: tuple[int, ...] | None = None) -> dict | None:
        """The finished batch's record, or None when it has to be attacked (`examples_shape`: the
        shape of the pixels it must have kept, None when it keeps none)."""
        record = self._records.get((method, index))
        if record is not None:
            self._count(self.reused, record)
        return record

    def timing(self, train_seconds: float | None = None) -> dict:
        """Wall-clock seconds (summed over batch records, reused ones included) and how many batches
        this call reused or attacked itself, per method and in all."""
        methods = sorted(set(self.reused) | set(self.computed))
        return {
            "train_seconds": train_seconds,
            "batches_reused": sum(self.reused.values()),
            "batches_attacked": sum(self.computed.values()),
            "methods": {m: {"batches_reused": self.reused.get(m, 0), "batches_attacked": self.computed.get(m, 0),
                            "seconds": round(self.seconds.get(m, 0.0), 3)} for m in methods},
        }

    def save_batch(self, method: str, index: int, record: dict) -> dict:
        """Store a batch record; returns it as it reads back (so fresh and resumed runs match)."""
        record = canonical({"format": BATCH_FORMAT, "method": method, "batch": index, **record})
        self._records[(method, index)] = record
        self._count(self.computed, record)
        return record

    def save_examples(self, method: str, index: int, pixels: torch.Tensor) -> None:
        """Keep the adversarial pixels of a batch's first queries (the ones the figures show)."""
        self._examples[(method, index)] = pixels.detach().to(torch.float32).cpu()

    def load_examples(self, method: str, index: int, shape: tuple[int, ...]) -> torch.Tensor:
        """The kept adversarial pixels of batch `index`, which must have `shape`."""
        return checked_examples(self._examples.get((method, index)), shape, f"batch {index} of {method}")


__all__ = ["MemoryBatches", "checked_examples", "FORCE_HINT"]
