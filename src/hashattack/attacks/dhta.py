"""DHTA: Targeted Attack for Deep Hashing based Retrieval (Bai et al., ECCV 2020), and P2P.

Distance: ℓ∞, ‖x' - x‖∞ <= ε (per channel; pixel or normalised space, see `attacks.base`).
Objective: minimise L(δ) = -(1/K) h_aᵀ tanh(α f(x + δ)), the relaxation of d_H(h_a, h(x')),
where h_a is the anchor code voted from n_t objects of the target label (`codes.anchor_code`).

Optimiser of the official code, reproduced exactly:
- δ starts at 0 and lives in the model's normalised input space (as in the official code);
- each step: g = ∇_δ L; δ <- δ - step · g / ‖g‖₂ with the ℓ2 norm of *that query's* gradient;
  then x + δ is projected onto valid pixels and δ onto the ε ball;
- α follows the official schedule as fractions of the steps: 0.1 for the first half, then 0.2,
  0.3, 0.5, 0.7 and 1.0 for each following tenth (at 2000 steps: 0.1 until 1000, 0.2 until 1200,
  ... 1.0 from 1800);
- step scaling: the unit ℓ2 step was tuned for 3x224x224 inputs. For an input of D values per
  query the step is `step_size * sqrt(D / 150528)`, which keeps the per-value RMS step of the
  official attack (for 3x224x224 it is exactly 1.0). `scale_step=False` takes `step_size` as is.

Queries are independent: a batch of B queries does in one forward/backward what B one-query
runs do, with each query's step normalised by its own gradient norm.

Arguments: model (pixels in [0, 1] -> pre-tanh (B, K)), eps (0.1), eps_space ("pixel"),
steps (2000), n_t (9; the number of target objects voted into the anchor, used by the
experiment protocol), step_size (1.0), scale_step (True).

Example::

    attack = DHTA(model, eps=0.1, steps=2000)
    adversarial = attack(images, anchor_codes)   # (B, C, H, W), (B, K) -> (B, C, H, W)
"""

from __future__ import annotations

from fractions import Fraction

import torch

from hashattack.attacks.base import Attack
from hashattack.attacks.descent import normalized_descent, step_length
from hashattack.codes import anchor_code
from hashattack.errors import InputError

ALPHA_BOUNDARIES = tuple(Fraction(n, 10) for n in (5, 6, 7, 8, 9))
ALPHA_VALUES = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def alpha_schedule(step: int, steps: int) -> float:
    """α at iteration `step` (0-based) of `steps`: the official schedule stated as fractions of `steps`."""
    position = Fraction(step, steps)
    return ALPHA_VALUES[sum(position >= boundary for boundary in ALPHA_BOUNDARIES)]


class DHTA(Attack):
    """Deep Hashing Targeted Attack: steer a query's code towards an anchor code."""

    name = "DHTA"

    def __init__(self, model, eps: float | torch.Tensor = 0.1, eps_space: str = "pixel", steps: int = 2000,
                 n_t: int = 9, step_size: float = 1.0, scale_step: bool = True):
        super().__init__(model, eps, eps_space)
        if not isinstance(steps, int) or steps <= 0:
            raise InputError(f"steps must be a positive integer, got {steps!r}")
        if not isinstance(n_t, int) or n_t <= 0:
            raise InputError(f"n_t must be a positive integer, got {n_t!r}")
        if not step_size > 0:
            raise InputError(f"step_size must be positive, got {step_size}")
        self.steps, self.n_t, self.step_size, self.scale_step = steps, n_t, step_size, scale_step

    def step_length(self, images: torch.Tensor) -> float:
        """The ℓ2 length of one step for inputs shaped like `images` (see the scaling rule above)."""
        return step_length(images, self.step_size, self.scale_step)

    def forward(self, images: torch.Tensor, target_codes: torch.Tensor) -> torch.Tensor:
        """images (B, C, ...) in [0, 1]; target_codes: anchors (B, K) or target objects' codes (B, n, K)."""
        anchors = anchor_code(target_codes) if target_codes.dim() == 3 else target_codes
        anchors = anchors.to(images.device, torch.float32)
        if anchors.shape[0] != images.shape[0]:
            raise InputError(f"{images.shape[0]} images but {anchors.shape[0]} anchor codes")
        bits = anchors.shape[1]

        def loss_of(adversarial: torch.Tensor, t: int) -> torch.Tensor:
            alpha = alpha_schedule(t, self.steps)
            return -(anchors * torch.tanh(alpha * self.model(adversarial))).sum() / bits

        _, std = self.normalization(images)
        return normalized_descent(images, loss_of, self.steps, self.step_length(images), self.eps_pixel(images), std,
                                  progress=f"{self.name} steps" if self.progress else None)

    def settings(self) -> dict:
        return {**super().settings(), "steps": self.steps, "n_t": self.n_t, "step_size": self.step_size,
                "scale_step": self.scale_step, "step_length_rule": "step_size*sqrt(D/150528)" if self.scale_step else "step_size"}


class P2P(DHTA):
    """Point-to-point baseline: DHTA with n_t = 1 (the anchor is one target object's code)."""

    name = "P2P"

    def __init__(self, model, eps: float | torch.Tensor = 0.1, eps_space: str = "pixel", steps: int = 2000,
                 step_size: float = 1.0, scale_step: bool = True):
        super().__init__(model, eps, eps_space, steps, 1, step_size, scale_step)
