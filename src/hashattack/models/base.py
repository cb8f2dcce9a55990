"""The interface every hashing model offers to training, encoding and the attacks.

A hashing model takes pixels in [0, 1] (it owns its input normalisation) and returns
f(x) in R^K, the hash layer's output *before* tanh; the binary code is sign(f(x)).
`features(x)` is the representation just before the hash layer (used by the
feature-based attack).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from hashattack.retrieval.codes import binarize


class HashingModel(nn.Module):
    """Base class: normalisation + backbone `features` + hash layer `Linear(feature_dim, bits)`."""

    architecture: str = "base"

    def __init__(self, bits: int, feature_dim: int, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        if bits <= 0:
            raise ValueError(f"bits must be a positive integer, got {bits}")
        self.bits = int(bits)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.hash_layer = nn.Linear(feature_dim, bits)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std

    def embed(self, normalized: torch.Tensor) -> torch.Tensor:
        """Backbone on normalised input -> feature before the hash layer. Subclasses implement it."""
        raise NotImplementedError

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Feature before the hash layer, (B, feature_dim), from pixels in [0, 1]."""
        return self.embed(self.normalize(pixels))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pre-tanh hash output f(x), (B, bits), from pixels in [0, 1]."""
        return self.hash_layer(self.features(pixels))

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Binary codes sign(f(x)) in {-1, +1} (0 maps to +1), float (B, bits)."""
        return binarize(self(pixels)).float()

    def config(self) -> dict:
        """What `create_model` needs to rebuild this model (stored in checkpoint metadata)."""
        return {"architecture": self.architecture, "bits": self.bits}
