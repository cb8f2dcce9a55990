"""Adversarial training of hashing models: the min-max of Madry et al. (ICLR 2018) on the hashing loss.

    min_θ  E [ L_hash( mix of x and x' ) ],   x' = argmax_{‖x' - x‖∞ <= ε} (inner attack, a few steps)

The inner maximisation is one of three attacks, made on the fly for every training batch from the
model being trained (in eval mode, weights frozen while it attacks):

- "untargeted": the untargeted Hamming-space attack (Yang et al., IEEE T-Cyb 2018) pushes each code
  away from the object's own benign code (as ATRDH and SAAT train against untargeted examples);
- "targeted": DHTA towards a random anchor: the center code of another class of the batch (drawn at
  random among the batch's objects that share no label with it; a uniformly random code when
  there is none);
- "center": center-guided (CgAT-style, Wang et al. CVPR 2023): the untargeted objective away from
  the object's class center code, the component vote (DHTA's Algorithm 1) of the batch's codes
  that share a label with it.

A fraction `mix` of each batch (drawn from the loop's seeded generator) is replaced by its
adversarial examples and the batch trains with the model's usual loss (`TrainConfig.loss`), so
pairs of clean and adversarial objects enter the pairwise loss too. The attacks use the same
optimiser as the evaluation (`attacks.descent`: per-query normalised steps, the α schedule, the ε
ball); with few steps their step factor defaults to 2000 / steps, the total path length of the
paper's attack. The loop that makes them (`protocol.adversarial_training`) sits above the attacks
and the training layers; this module holds the settings and the inner attacks' goal codes.

`AdversarialTraining` holds the settings; they are written into the checkpoint's metadata and
enter the trained-model cache key (`training.cache`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.retrieval.codes import anchor_code, binarize
from hashattack.training.losses import similarity_matrix
from hashattack.validation import EPS_SPACES, check_choice

ADVERSARIAL_METHODS = ("untargeted", "targeted", "center")
INNER_ATTACK = {"untargeted": "Untargeted", "center": "Untargeted", "targeted": "DHTA"}   # registry names
PATH_LENGTH = 2000.0   # the paper's attack: 2000 steps of 1.0


@dataclass(frozen=True)
class AdversarialTraining:
    """Settings of adversarial training: the inner attack (`method`), its ε (in `eps_space`), steps and
    step factor (None: 2000 / steps), and `mix`, the fraction of each batch replaced by adversarial examples."""

    method: str = "untargeted"
    eps: float = 0.2
    eps_space: str = "pixel"
    steps: int = 5
    step_size: float | None = None
    mix: float = 0.5

    def __post_init__(self):
        if self.method not in ADVERSARIAL_METHODS:
            raise InputError(f"unknown adversarial training {self.method!r}: choose from {', '.join(ADVERSARIAL_METHODS)}")
        check_choice(self.eps_space, EPS_SPACES, "eps space")
        if not (isinstance(self.eps, (int, float)) and np.isfinite(self.eps) and self.eps > 0):
            raise InputError(f"adversarial training eps must be a positive number, got {self.eps!r}")
        if not isinstance(self.steps, int) or self.steps <= 0:
            raise InputError(f"adversarial training steps must be a positive integer, got {self.steps!r}")
        if self.step_size is not None and not (np.isfinite(self.step_size) and self.step_size > 0):
            raise InputError(f"adversarial training step size must be a positive number, got {self.step_size!r}")
        if not 0 < self.mix <= 1:
            raise InputError(f"the adversarial share of a batch (mix) must be in (0, 1], got {self.mix!r}")

    @property
    def step_factor(self) -> float:
        """The inner attack's step factor: `step_size`, or the paper's path length spread over `steps`."""
        return self.step_size if self.step_size is not None else PATH_LENGTH / self.steps

    def as_dict(self) -> dict:
        """What a checkpoint records and the cache key covers (the step factor resolved)."""
        return {**asdict(self), "step_size": self.step_factor, "attack": INNER_ATTACK[self.method]}


def benign_codes(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """±1 codes of `pixels` by `model` in eval mode, without gradients; the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return binarize(model(pixels).float())
    finally:
        model.train(was_training)


def class_centers(codes: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The center code of each object `rows` of the batch: the vote of the batch codes sharing a label with it."""
    similar = (similarity_matrix(labels[rows], labels) > 0).to(codes.dtype)
    return anchor_code(codes.expand(len(rows), *codes.shape), weights=similar)


def goal_codes(method: str, codes: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor | None:
    """What the inner attack of `method` is called with for the batch objects `rows`: None (away from the
    benign codes), the class center codes (away from them), or anchors of random other classes (towards)."""
    if method == "untargeted":
        return None
    if method == "center":
        return class_centers(codes, labels, rows)
    other = similarity_matrix(labels[rows], labels) < 0
    draws = torch.rand(other.shape, generator=generator).to(codes.device) * other   # 0 where the class is shared
    partners = draws.argmax(dim=1)
    anchors = class_centers(codes, labels, partners)
    lonely = ~other.any(dim=1)
    if lonely.any():
        random = torch.where(torch.rand((int(lonely.sum()), codes.shape[1]), generator=generator) < 0.5, -1.0, 1.0)
        anchors[lonely] = random.to(anchors)
    return anchors


__all__ = ["AdversarialTraining", "ADVERSARIAL_METHODS", "INNER_ATTACK", "benign_codes", "goal_codes", "class_centers"]
