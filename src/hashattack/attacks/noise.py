"""Baselines: Original (the benign query) and Noise (uniform noise in [-ε, ε], clipped to valid pixels)."""

from __future__ import annotations

import torch

from hashattack.attacks.base import Attack


class Original(Attack):
    """The benign query, unchanged: the reference row of the paper's tables."""

    name = "Original"
    bounded = False

    def __init__(self, model=None, eps: float = 1.0, eps_space: str = "pixel"):
        super().__init__(model if model is not None else torch.nn.Identity(), eps, eps_space)

    def forward(self, images: torch.Tensor, *unused) -> torch.Tensor:
        return images.clone()


class Noise(Attack):
    """x + u, u ~ U[-ε, ε] per element (ε in the attack's space), clipped to [0, 1].

    The noise of each query is drawn from its own generator seeded with (seed, query id), so a
    query gets the same noise whatever batch it is in and a run re-draws the same noise.
    """

    name = "Noise"

    def __init__(self, model, eps: float = 0.1, eps_space: str = "pixel", seed: int = 0):
        super().__init__(model, eps, eps_space)
        self.seed = seed

    def forward(self, images: torch.Tensor, *unused, ids=None) -> torch.Tensor:
        ids = range(len(images)) if ids is None else [int(i) for i in ids]
        uniform = torch.stack([
            torch.rand(images.shape[1:], generator=torch.Generator().manual_seed(self.seed * 1_000_003 + i))
            for i in ids
        ]).to(images.device) if len(images) else torch.empty_like(images)
        noise = (2 * uniform - 1) * self.eps_pixel(images)
        return (images + noise).clamp(0, 1)

    def settings(self) -> dict:
        return {**super().settings(), "seed": self.seed}
