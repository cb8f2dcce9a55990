"""The embedded default: a small CNN hashing model for 28x28 grey images, trained from scratch on CPU."""

from __future__ import annotations

import torch
from torch import nn

from hashattack.models.base import HashingModel
from hashattack.models.layers import FastConv2d, FastMaxPool2d, run_layers
from hashattack.models.registry import register_model

FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)


class SmallCNN(HashingModel):
    """conv(16)-pool-conv(32)-pool-fc(feature_dim)-ReLU, then the hash layer Linear(feature_dim, K).

    Input: pixels (B, channels, size, size) in [0, 1]; about 1.4 M multiply-adds per 28x28 image.
    The first convolution and the poolings are `models.layers`' drop-ins: same parameters and
    outputs as nn.Conv2d / nn.MaxPool2d, faster on CPU.
    """

    architecture = "small-cnn"

    def __init__(self, bits: int, channels: int = 1, size: int = 28, feature_dim: int = 256,
                 mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD):
        super().__init__(bits, feature_dim, mean, std)
        self.channels, self.size, self.feature_dim = channels, size, feature_dim
        self.backbone = nn.Sequential(
            FastConv2d(channels, 16, 3, padding=1), nn.ReLU(inplace=True), FastMaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), FastMaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (size // 4) ** 2, feature_dim), nn.ReLU(inplace=True),
        )

    def embed(self, normalized: torch.Tensor) -> torch.Tensor:
        return run_layers(self.backbone, normalized)

    def config(self) -> dict:
        return {**super().config(), "channels": self.channels, "size": self.size,
                "feature_dim": self.feature_dim,
                "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


@register_model("small-cnn", input_shape=True)
def small_cnn(bits: int, **kwargs) -> SmallCNN:
    return SmallCNN(bits, **kwargs)
