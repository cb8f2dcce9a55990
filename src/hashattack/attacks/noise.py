"""Baselines: Original (the benign query) and Noise (uniform noise in [-ε, ε], clipped to valid pixels)."""

from __future__ import annotations

import numpy as np
import torch

from hashattack.attacks.base import Attack, DEFAULT_EPS
from hashattack.errors import InputError
from hashattack.validation import check_seed


class Original(Attack):
    """The benign query, unchanged: the reference row of the paper's tables."""

    name = "Original"
    bounded = False

    def __init__(self, model=None, eps: float = 1.0, eps_space: str = "pixel"):
        super().__init__(model if model is not None else torch.nn.Identity(), eps, eps_space)

    def forward(self, images: torch.Tensor, *unused) -> torch.Tensor:
        return images.clone()


def query_ids(ids, count: int) -> list[int]:
    """`count` non-negative integer query ids, or a one-line InputError."""
    array = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids)
    if array.shape != (count,) or (count and (array.dtype.kind not in "iu" or array.min() < 0)):
        raise InputError(f"ids must be {count} non-negative integer query ids, one per image, got "
                         f"{array.dtype} of shape {array.shape}")
    return [int(i) for i in array]


class Noise(Attack):
    """x + u, u ~ U[-ε, ε] per element (ε in the attack's space), clipped to [0, 1].

    The noise of each query is drawn from its own generator seeded with (seed, query id), so a
    query gets the same noise whatever batch it is in and a run re-draws the same noise.
    """

    name = "Noise"

    def __init__(self, model, eps: float = DEFAULT_EPS, eps_space: str = "pixel", seed: int = 0):
        super().__init__(model, eps, eps_space)
        self.seed = check_seed(seed, "the noise seed")

    def forward(self, images: torch.Tensor, *unused, ids=None) -> torch.Tensor:
        """images (B, ...) in [0, 1]; ids: the B query ids whose noise to draw (default 0 .. B-1)."""
        ids = range(len(images)) if ids is None else query_ids(ids, len(images))
        uniform = torch.stack([
            torch.rand(images.shape[1:], generator=torch.Generator().manual_seed(self.seed * 1_000_003 + i))
            for i in ids
        ]).to(images.device) if len(images) else torch.empty_like(images)
        noise = (2 * uniform - 1) * self.eps_pixel(images)
        return (images + noise).clamp(0, 1)

    def settings(self) -> dict:
        return {**super().settings(), "seed": self.seed}
