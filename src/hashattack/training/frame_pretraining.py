"""Pretraining the embedded video model's frame encoder on Fashion-MNIST images.

The paper's video model reads frames with AlexNet pretrained on ImageNet and frozen. Offline,
its stand-in is a small strided CNN (`models.video.FrameCNN`) trained as a 10-class classifier
(cross-entropy on its last layer) on real Fashion-MNIST train images, each placed at a random
position of a `canvas` x `canvas` black frame, as the items appear in the Moving Fashion-MNIST
clips. Its backbone then becomes the frozen frame encoder of "lstm-frame-cnn". The checkpoint
is cached like trained hashing models (key: every setting below).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hashattack.data.base import LabeledSet, one_hot
from hashattack.data.fashion_mnist import load_fashion_mnist
from hashattack.data.moving_fashion import ITEM
from hashattack.errors import InputError
from hashattack.models.video import FrameCNN
from hashattack.training.cache import default_cache_dir
from hashattack.training.checkpoints import save_checkpoint
from hashattack.training.loop import TrainConfig, train_model


@dataclass(frozen=True)
class FramePretraining:
    """Settings of the frame encoder's classifier training."""

    canvas: int = 32
    feature_dim: int = 128
    per_class: int = 2000
    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self):
        if self.canvas < ITEM:
            raise InputError(f"canvas must be at least {ITEM} pixels, got {self.canvas}")
        for name in ("feature_dim", "per_class", "epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")


def place_on_canvas(items: torch.Tensor, canvas: int, generator: torch.Generator) -> torch.Tensor:
    """Items (B, 1, 28, 28) at random positions of black canvases (B, 1, canvas, canvas), same dtype."""
    out = torch.zeros(len(items), 1, canvas, canvas, dtype=items.dtype)
    offsets = torch.randint(0, canvas - ITEM + 1, (len(items), 2), generator=generator).tolist()
    for i, (y, x) in enumerate(offsets):
        out[i, :, y:y + ITEM, x:x + ITEM] = items[i]
    return out


def class_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of class logits (B, C) against one-hot labels (B, C)."""
    return F.cross_entropy(logits, labels.argmax(1))


def train_frame_classifier(images: torch.Tensor, classes: torch.Tensor, settings: FramePretraining,
                           progress: bool = True) -> tuple[FrameCNN, list[float]]:
    """A FrameCNN whose outputs are class logits, trained with cross-entropy by `training.loop.train_model`
    on items placed at random canvas positions; returns (model, epoch losses)."""
    n_classes = int(classes.max()) + 1
    torch.manual_seed(settings.seed)
    model = FrameCNN(bits=n_classes, size=settings.canvas, feature_dim=settings.feature_dim)
    data = LabeledSet(images, one_hot(classes, n_classes), torch.arange(len(images)))
    config = TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                         momentum=settings.momentum, weight_decay=settings.weight_decay, seed=settings.seed)
    history = train_model(model, data, config, progress=progress, loss_fn=class_cross_entropy,
                          augment=lambda pixels, generator: place_on_canvas(pixels, settings.canvas, generator),
                          desc="pretrain frame encoder")
    return model, history


@torch.no_grad()
def frame_accuracy(model: FrameCNN, images: torch.Tensor, classes: torch.Tensor, canvas: int, seed: int = 1) -> float:
    """Classification accuracy on items placed at random canvas positions."""
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    for start in range(0, len(images), 1000):
        pixels = place_on_canvas(images[start:start + 1000].float().div_(255.0), canvas, generator)
        correct += (model(pixels).argmax(1) == classes[start:start + 1000]).sum().item()
    return correct / max(len(images), 1)


def pretrained_frame_encoder(settings: FramePretraining = FramePretraining(), root: str | Path | None = None,
                             cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Path of the cached pretrained small-CNN checkpoint (trained now when absent)."""
    key = hashlib.sha256(json.dumps({"data": "fashion-mnist", **asdict(settings)}, sort_keys=True).encode()).hexdigest()[:12]
    path = Path(cache_dir or default_cache_dir()) / f"frame-encoder-frame-cnn-{settings.canvas}px-{key}.pt"
    if path.is_file():
        return path
    arrays = load_fashion_mnist(root)
    classes = arrays["train_labels"]
    generator = np.random.default_rng(settings.seed)
    chosen = np.sort(np.concatenate([generator.permutation(np.flatnonzero(classes.numpy() == c))[:settings.per_class]
                                     for c in np.unique(classes.numpy())]))
    started = time.perf_counter()
    model, history = train_frame_classifier(arrays["train_images"][chosen], classes[chosen], settings, progress)
    accuracy = frame_accuracy(model, arrays["test_images"], arrays["test_labels"], settings.canvas)
    save_checkpoint(path, model, {"role": "frame encoder of lstm-frame-cnn (a Fashion-MNIST classifier)",
                                  "pretraining": asdict(settings), "loss_history": history,
                                  "test_accuracy": round(accuracy, 4),
                                  "train_seconds": round(time.perf_counter() - started, 1)})
    return path
