"""Untargeted Hamming-space attack (Yang et al., "Adversarial Examples for Hamming Space Search",
IEEE Transactions on Cybernetics 2018): push the adversarial code away from the benign one.

Distance: ℓ∞, ‖x' - x‖∞ <= ε (per channel; pixel or normalised space, see `attacks.base`).
Objective: maximise d_H(h_b, h(x')), relaxed to minimising L(δ) = (1/K) h_bᵀ tanh(α f(x + δ)),
where h_b = sign(f(x)) is the benign query's code (or any code given to move away from, e.g. a
class center code in center-guided adversarial training).

This is DHTA's loss with the anchor -h_b, term for term, so the attack runs on DHTA's optimiser
unchanged (`attacks.descent`): δ from 0, per-query ℓ2-normalised steps of
`step_size * sqrt(D / 150528)`, projection onto valid pixels and the ε ball, the official α
schedule as fractions of the steps, and DHTA's speed options. With `early_stop` a query stops
once every bit is flipped (d_H = K, the most an attack can do). It is scored by the MAP of the
adversarial query against its own label: how far the results drop.

Arguments: model (pixels in [0, 1] -> pre-tanh (B, K)), eps (`attacks.base.DEFAULT_EPS`, 8/255), eps_space ("pixel"),
steps (2000), step_size (1.0), scale_step (True), and the speed options early_stop (False),
precision ("fp32"), channels_last (False), compile (False) as in `attacks.dhta.DHTA`.

Shapes: images (B, C, H, W) (or (B, T, C, H, W) for a video model) in [0, 1]; codes (optional)
(B, K) in {-1, +1}; returns adversarial pixels shaped like `images`. A batch of B queries gives
what B one-query calls give.

Example::

    attack = Untargeted(model, eps=0.2, steps=2000)
    adversarial = attack(images)                 # (B, C, H, W) -> (B, C, H, W)
"""

from __future__ import annotations

import torch

from hashattack.attacks.base import DEFAULT_EPS
from hashattack.attacks.dhta import DHTA
from hashattack.errors import InputError
from hashattack.models.batch_invariance import model_rows
from hashattack.retrieval.codes import binarize


class Untargeted(DHTA):
    """Hamming-space untargeted attack: drive a query's code away from its benign code."""

    name = "Untargeted"

    def __init__(self, model, eps: float | torch.Tensor = DEFAULT_EPS, eps_space: str = "pixel", steps: int = 2000,
                 step_size: float = 1.0, scale_step: bool = True, **speed_options):
        super().__init__(model, eps, eps_space, steps, 1, step_size, scale_step, **speed_options)

    def forward(self, images: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, ...) in [0, 1]; codes (B, K) to move away from (default: the benign codes sign(f(x)))."""
        if codes is None:
            with torch.no_grad():
                outputs = model_rows(self.checked(self.model), images.to(self.working_dtype(images)))[:len(images)].float()
            self.check_outputs(outputs, outputs.shape[-1])
            codes = binarize(outputs)
        if not isinstance(codes, torch.Tensor) or codes.dim() != 2 or codes.shape[0] != images.shape[0]:
            got = tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__
            raise InputError(f"{images.shape[0]} images but codes of shape {got} (labels?); Untargeted takes the "
                             "+-1 codes (B, K) to move away from, or nothing (the benign codes)")
        # (1/K) h_bᵀ tanh(α f) = -(1/K) (-h_b)ᵀ tanh(α f): DHTA's loss towards the anchor -h_b
        return super().forward(images, -codes.to(images.device))

    def settings(self) -> dict:
        settings = super().settings()
        settings.pop("n_t")
        return {**settings, "objective": "(1/K) h_b^T tanh(alpha f(x + delta)), h_b the benign code"}


__all__ = ["Untargeted"]
