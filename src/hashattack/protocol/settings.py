"""The attack and evaluation settings every method of a run shares, and the conventions a result used."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashattack.attacks.dhta import PRECISIONS
from hashattack.errors import InputError
from hashattack.retrieval.metrics import OTHER_CONVENTION, ZERO_RELEVANCE
from hashattack.validation import EPS_SPACES, check_choice

TIE_ORDER = "ascending Hamming distance; equal distances keep database order"
ZERO_RELEVANCE_MEANING = {
    "zero": "queries with no relevant item in the top R count as AP 0",
    "drop": "queries with no relevant item in the top R are left out of the mean (official code)"}
TARGET_PROTOCOL_MEANING = {
    "paired": "one draw for every n_t among label vectors with more than the largest n_t items: all methods "
              "share each query's target",
    "official": "each n_t draws among label vectors with more than its own n_t items, as the official code"}


@dataclass(frozen=True)
class AttackSettings:
    """Settings shared by every method of a run. ε is in `eps_space` ("pixel" or "normalized")."""

    eps: float = 0.2
    eps_space: str = "pixel"
    steps: int = 2000
    n_t: int = 9
    step_size: float = 1.0
    batch_size: int = 100
    topk: int | None = 1000
    zero_relevance: str = "zero"
    early_stop: bool = False     # speed options of DHTA / P2P (see attacks.dhta); the defaults are the official optimiser
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool | str = False
    tf32: bool = False           # TF32 matmuls and convolutions on CUDA, set explicitly either way by the engine
    quantize: bool = False       # end every attack on the 8-bit grid inside the ε ball (what a PNG stores)

    def __post_init__(self):
        if not (isinstance(self.eps, (int, float)) and np.isfinite(self.eps) and self.eps > 0):
            raise InputError(f"eps must be a positive number, got {self.eps}")
        check_choice(self.eps_space, EPS_SPACES, "eps space")
        if self.eps_space == "pixel" and self.eps > 1:
            raise InputError(f"pixel-space eps must be at most 1 (pixels lie in [0, 1]), got {self.eps}")
        for name in ("steps", "n_t", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.step_size, (int, float)) and np.isfinite(self.step_size) and self.step_size > 0):
            raise InputError(f"step_size must be a positive number, got {self.step_size!r}")
        if self.topk is not None and (not isinstance(self.topk, int) or self.topk <= 0):
            raise InputError(f"topk must be a positive integer, got {self.topk!r}")
        check_choice(self.zero_relevance, ZERO_RELEVANCE, "zero-relevance convention")
        check_choice(self.precision, PRECISIONS, "precision")

    def attack_options(self, seed: int = 0) -> dict:
        """Keyword settings for `attacks.registry.build_attack` (each attack takes the ones it knows)."""
        return {"eps": self.eps, "eps_space": self.eps_space, "steps": self.steps, "n_t": self.n_t,
                "step_size": self.step_size, "seed": seed, "early_stop": self.early_stop,
                "precision": self.precision, "channels_last": self.channels_last, "compile": self.compile}


def conventions(settings: AttackSettings, target_protocol: str = "paired") -> dict:
    """The conventions a result used, written next to it: its main zero-relevance convention and the other
    one that every table shows beside it, the target protocol, the tie order, the relevance rule."""
    other = OTHER_CONVENTION[settings.zero_relevance]
    return {
        "eps_space": settings.eps_space,
        "map": f"MAP@{settings.topk}" if settings.topk else "MAP@all",
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


__all__ = ["AttackSettings", "conventions", "TIE_ORDER"]
