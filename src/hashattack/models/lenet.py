"""A second small architecture for the embedded data: LeNet-5 with a hash layer (transfer experiments).

It differs from `small-cnn` in every layer (5x5 convolutions without padding, 6 and 16 channels,
average pooling, tanh activations, two fully connected layers), so a perturbation that steers it
was not crafted on a near copy of the small CNN. It trains from scratch on CPU in about a minute.
"""

from __future__ import annotations

import torch
from torch import nn

from hashattack.models.base import HashingModel
from hashattack.models.registry import register_model
from hashattack.models.small_cnn import FASHION_MNIST_MEAN, FASHION_MNIST_STD


class LeNetHash(HashingModel):
    """conv5(6)-tanh-avgpool-conv5(16)-tanh-avgpool-fc(120)-tanh-fc(feature_dim)-tanh, then Linear(feature_dim, K).

    Input: pixels (B, channels, size, size) in [0, 1], size >= 16 (28 for Fashion-MNIST).
    """

    architecture = "lenet"

    def __init__(self, bits: int, channels: int = 1, size: int = 28, feature_dim: int = 84,
                 mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD):
        super().__init__(bits, feature_dim, mean, std)
        self.channels, self.size, self.feature_dim = channels, size, feature_dim
        side = ((size - 4) // 2 - 4) // 2
        self.backbone = nn.Sequential(
            nn.Conv2d(channels, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * side * side, 120), nn.Tanh(),
            nn.Linear(120, feature_dim), nn.Tanh(),
        )

    def embed(self, normalized: torch.Tensor) -> torch.Tensor:
        return self.backbone(normalized)

    def config(self) -> dict:
        return {**super().config(), "channels": self.channels, "size": self.size, "feature_dim": self.feature_dim,
                "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


@register_model("lenet")
def lenet(bits: int, **kwargs) -> LeNetHash:
    return LeNetHash(bits, **kwargs)
