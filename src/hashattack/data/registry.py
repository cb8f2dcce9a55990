"""Name -> dataset registry: every fact about a dataset in one entry, next to its data module.

An entry says how the dataset opens (a function of the data spec and the seed), whether its
objects are videos, which data-spec options apply to it, its attack and evaluation defaults (ε
and its space, steps, step size, R of MAP@R, the Table 2 ε sweep, the main zero-relevance
convention), and the model trained on it by default. Adding a dataset is its module plus one
import line in `hashattack.data`:

    register_dataset(DatasetEntry(name="my-set", summary="...", open=lambda spec, seed: ..., ...))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from hashattack.errors import InputError

PAPER_STEPS = 2000                                   # the paper's iterations, each of the official unit step
PAPER_EPS = 0.032                                    # normalised space: the official code's ImageNet setting
PIXEL_EPS = 8 / 255                                  # pixel space, the convention of most later work
PAPER_EPS_SWEEP = (0.01, 0.02, 0.03, 0.04, 0.05)     # appendix Table 2, normalised space
PIXEL_EPS_SWEEP = (1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)
SPACE_EPS = {"pixel": PIXEL_EPS, "normalized": PAPER_EPS}                  # ε of a space other than the dataset's
SPACE_EPS_SWEEP = {"pixel": PIXEL_EPS_SWEEP, "normalized": PAPER_EPS_SWEEP}
DEFAULT_TOPK = 1000
ALL = "all"                                          # topk: MAP over the whole database
COMMON_OPTIONS = ("root", "seen_classes")            # data-spec options every dataset takes


def path_length_step_size(steps: int) -> float:
    """The step factor that keeps the paper's total path length (2000 steps of 1.0) in `steps` steps."""
    return PAPER_STEPS / steps


@dataclass(frozen=True, kw_only=True)
class DatasetEntry:
    """One dataset. `open(spec, seed)` -> RetrievalDataset, `spec` a `protocol.spec.DataSpec`; `options`: the
    data-spec options it takes besides root and seen_classes; `check(spec)`: refuses a spec it cannot open.
    `step_size` None: the paper's path length (2000 / steps); `topk`: R, or a function of the data spec.
    `zero_relevance`: the main convention ("drop", the official code's, on the paper's datasets and their
    stand-ins). `attack_whole_query_set`: a small query set is attacked whole. `train`: TrainConfig fields of
    its recipe for the architectures without one of their own."""

    name: str
    summary: str
    open: Callable
    video: bool = False
    options: tuple[str, ...] = ()
    check: Callable | None = None
    eps: float = PIXEL_EPS
    eps_space: str = "pixel"
    steps: int = PAPER_STEPS
    step_size: float | None = 1.0
    topk: int | Callable = DEFAULT_TOPK
    eps_sweep: tuple[float, ...] = PIXEL_EPS_SWEEP
    zero_relevance: str = "zero"
    attack_whole_query_set: bool = False
    architecture: str = "small-cnn"
    train: dict = field(default_factory=dict)
    frame_root: bool = False     # its root is the Fashion-MNIST folder a video model's frame encoder pretrains on

    def eps_in(self, space: str) -> float:
        """The default ε in `space`: the dataset's own in its space, else that space's (`SPACE_EPS`)."""
        return self.eps if space == self.eps_space else SPACE_EPS[space]

    def eps_sweep_in(self, space: str | None = None) -> tuple[float, ...]:
        """The Table 2 ε sweep in `space` (default the dataset's): its own values, else that space's."""
        return self.eps_sweep if space in (None, self.eps_space) else SPACE_EPS_SWEEP[space]

    def step_size_for(self, steps: int) -> float:
        return path_length_step_size(steps) if self.step_size is None else self.step_size

    def topk_for(self, spec) -> int:
        return self.topk(spec) if callable(self.topk) else self.topk


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Make `entry` available under its name (one entry per name)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"dataset {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def available_datasets() -> tuple[str, ...]:
    """Registered names, in registration order (images before videos, embedded before the paper's)."""
    return tuple(_REGISTRY)


def dataset_entry(name: str) -> DatasetEntry:
    if name not in _REGISTRY:
        raise InputError(f"unknown dataset {name!r}: choose from {', '.join(available_datasets())}")
    return _REGISTRY[name]


__all__ = ["DatasetEntry", "register_dataset", "available_datasets", "dataset_entry", "path_length_step_size",
           "PAPER_STEPS", "PAPER_EPS", "PIXEL_EPS", "PAPER_EPS_SWEEP", "PIXEL_EPS_SWEEP", "SPACE_EPS",
           "SPACE_EPS_SWEEP", "DEFAULT_TOPK", "COMMON_OPTIONS"]
