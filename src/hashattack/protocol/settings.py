"""The attack and evaluation settings every method of a run shares, and the conventions a result used."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hashattack.attacks.dhta import PRECISIONS
from hashattack.data.registry import ALL, dataset_entry
from hashattack.errors import InputError
from hashattack.retrieval.metrics import OTHER_CONVENTION, ZERO_RELEVANCE
from hashattack.validation import EPS_SPACES, check_choice

DATASET_DEPENDENT = ("eps", "eps_space", "steps", "step_size", "topk", "zero_relevance")

TIE_ORDER = "ascending Hamming distance; equal distances keep database order"
ZERO_RELEVANCE_MEANING = {
    "zero": "queries with no relevant item in the top R count as AP 0",
    "drop": "queries with no relevant item in the top R are left out of the mean (official code)"}
TARGET_PROTOCOL_MEANING = {
    "paired": "one draw for every n_t among label vectors with more than the largest n_t items: all methods "
              "share each query's target",
    "official": "each n_t draws among label vectors with more than its own n_t items, as the official code"}


@dataclass(frozen=True, kw_only=True)
class AttackSettings:
    """Settings shared by every method of a run. ε is in `eps_space` ("pixel" or "normalized").

    The dataset-dependent fields (`DATASET_DEPENDENT`: eps, eps_space, steps, step_size, topk, zero_relevance)
    are None until `resolved(data)` fills them from the dataset's registry entry (`data.registry`), as the engine
    does; an ε space other than the dataset's gets that space's ε. `topk`: R of MAP@R, or `ALL` ("all").
    """

    eps: float | None = None
    eps_space: str | None = None
    steps: int | None = None
    n_t: int = 9
    step_size: float | None = None
    batch_size: int = 100
    topk: int | str | None = None
    zero_relevance: str | None = None
    early_stop: bool = False     # speed options of DHTA / P2P (see attacks.dhta); the defaults are the official optimiser
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool | str = False
    tf32: bool = False           # TF32 matmuls and convolutions on CUDA, set explicitly either way by the engine
    quantize: bool = False       # end every attack on the 8-bit grid inside the ε ball (what a PNG stores)

    def __post_init__(self):
        if self.eps is not None and not (isinstance(self.eps, (int, float)) and np.isfinite(self.eps) and self.eps > 0):
            raise InputError(f"eps must be a positive number, got {self.eps}")
        if self.eps_space is not None:
            check_choice(self.eps_space, EPS_SPACES, "eps space")
        if self.eps_space == "pixel" and self.eps is not None and self.eps > 1:
            raise InputError(f"pixel-space eps must be at most 1 (pixels lie in [0, 1]), got {self.eps}")
        for name in ("steps", "n_t", "batch_size"):
            value = getattr(self, name)
            if not (value is None and name == "steps") and (not isinstance(value, int) or value <= 0):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.step_size is not None and not (isinstance(self.step_size, (int, float)) and
                                               np.isfinite(self.step_size) and self.step_size > 0):
            raise InputError(f"step_size must be a positive number, got {self.step_size!r}")
        if self.topk not in (None, ALL) and (not isinstance(self.topk, int) or self.topk <= 0):
            raise InputError(f"topk must be a positive integer or {ALL!r}, got {self.topk!r}")
        if self.zero_relevance is not None:
            check_choice(self.zero_relevance, ZERO_RELEVANCE, "zero-relevance convention")
        check_choice(self.precision, PRECISIONS, "precision")

    def resolved(self, data) -> "AttackSettings":
        """These settings with every unset dataset-dependent field filled from `data`'s dataset (a
        `protocol.spec.DataSpec`): its ε in the space given (or its own), its steps and step size, R, convention."""
        entry = dataset_entry(data.dataset)
        space = self.eps_space or entry.eps_space
        steps = self.steps or entry.steps
        given = lambda name, default: default if getattr(self, name) is None else getattr(self, name)
        return replace(self, eps=given("eps", entry.eps_in(space)), eps_space=space, steps=steps,
                       step_size=given("step_size", entry.step_size_for(steps)), topk=given("topk", entry.topk_for(data)),
                       zero_relevance=given("zero_relevance", entry.zero_relevance))

    @property
    def depth(self) -> int | None:
        """R of MAP@R for the metrics: None for the whole database (`ALL`)."""
        return None if self.topk == ALL else self.topk

    def attack_options(self, seed: int = 0) -> dict:
        """Keyword settings for `attacks.registry.build_attack` (each attack takes the ones it knows)."""
        unset = [name for name in DATASET_DEPENDENT if getattr(self, name) is None]
        if unset:
            raise InputError(f"attack settings {', '.join(unset)} are unset: resolve them for a dataset with "
                             f"settings.resolved(DataSpec(dataset=...)) (the engine resolves a RunSpec)")
        return {"eps": self.eps, "eps_space": self.eps_space, "steps": self.steps, "n_t": self.n_t,
                "step_size": self.step_size, "seed": seed, "early_stop": self.early_stop,
                "precision": self.precision, "channels_last": self.channels_last, "compile": self.compile}


def conventions(settings: AttackSettings, target_protocol: str = "paired") -> dict:
    """The conventions a result used, written next to it: its main zero-relevance convention and the other
    one that every table shows beside it, the target protocol, the tie order, the relevance rule."""
    other = OTHER_CONVENTION[settings.zero_relevance]
    return {
        "eps_space": settings.eps_space,
        "map": "MAP@all" if settings.depth is None else f"MAP@{settings.depth}",
        "zero_relevance": settings.zero_relevance,
        "zero_relevance_meaning": ZERO_RELEVANCE_MEANING[settings.zero_relevance],
        "zero_relevance_also": other,
        "zero_relevance_also_meaning": ZERO_RELEVANCE_MEANING[other] + " (\"t_map_by_convention\", "
                                       "\"map_by_convention\" and the tables' second columns)",
        "target_protocol": target_protocol,
        "target_protocol_meaning": TARGET_PROTOCOL_MEANING[target_protocol],
        "tie_order": TIE_ORDER,
        "relevance": "shares at least one label",
    }


__all__ = ["AttackSettings", "conventions", "TIE_ORDER", "ALL", "DATASET_DEPENDENT"]
