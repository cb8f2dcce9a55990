"""The one SGD training loop: hashing models (pairwise loss by default) and the frame encoder's classifier."""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm

from hashattack.data.base import LabeledSet
from hashattack.errors import InputError
from hashattack.models.inputs import model_inputs
from hashattack.training.losses import LOSSES


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. The paper's VGG-11 setting is SGD(momentum 0.9, weight decay 5e-4,
    fixed lr 0.01, batch 24); the embedded small CNN, trained from scratch, uses a larger batch
    and learning rate so it converges in a few CPU minutes."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    loss: str = "pairwise"
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise InputError(f"unknown loss {self.loss!r}: choose one of {', '.join(sorted(LOSSES))}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr must be positive, got {self.lr}")

    def as_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def frozen_front_outputs(model: torch.nn.Module, data: LabeledSet, batch_size: int,
                         device: str | torch.device = "cpu", progress: bool = True) -> torch.Tensor:
    """`model.frozen_front` of every object of `data`, on the CPU (computed once for training)."""
    model.to(device).eval()
    chunks = []
    for start in tqdm(range(0, len(data), batch_size), desc="frozen features", unit="batch", disable=None if progress else True):
        index = torch.arange(start, min(start + batch_size, len(data)))
        extra = {k: v.to(device) for k, v in model_inputs(data, index).items()}
        chunks.append(model.frozen_front(data.pixels(index).to(device), **extra).cpu())
    return torch.cat(chunks)


# Appendix B's setting for the paper-scale image models (VGG-11 fine-tuned with the pairwise loss):
# SGD momentum 0.9, weight decay 5e-4, fixed lr 0.01, batch 24. The paper gives no epoch count;
# 24 epochs of ImageNet-100's 10,000 training images are 10,000 iterations, HashNet's schedule.
PAPER_TRAIN_CONFIG = TrainConfig(epochs=24, batch_size=24, lr=0.01, momentum=0.9, weight_decay=5e-4)


def train_model(model: torch.nn.Module, data: LabeledSet, config: TrainConfig = TrainConfig(),
                device: str | torch.device = "cpu", progress: bool = True, *, loss_fn: Callable | None = None,
                augment: Callable | None = None, desc: str = "train") -> list[float]:
    """Train `model` in place on `data` with SGD; returns the mean loss of each epoch. Deterministic for a seed on CPU.

    A model whose first stage is frozen (a video model's frame encoder) offers `frozen_front(pixels,
    **inputs)` and `head(front_output, **inputs)` with model(x) = head(frozen_front(x)); the frozen
    stage then runs once per object instead of once per epoch, with the same result.

    `loss_fn(outputs, labels)` replaces `config.loss`; a loss taking an `iteration` argument
    (HashNet's) is given the 0-based training iteration. `augment(pixels, generator)` transforms
    each batch, drawing from the loop's seeded generator (after the epoch's shuffle); one taking a
    `labels` argument is given the batch's labels too (adversarial training's class centers).
    """
    frozen = augment is None and callable(getattr(model, "frozen_front", None))
    cached = frozen_front_outputs(model, data, config.batch_size, device, progress) if frozen else None
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    loss_fn = loss_fn or LOSSES[config.loss]
    scheduled = "iteration" in inspect.signature(loss_fn).parameters   # e.g. HashNet's β continuation
    labelled = augment is not None and "labels" in inspect.signature(augment).parameters
    iteration = 0
    history = []
    steps_per_epoch = (len(data) + config.batch_size - 1) // config.batch_size
    bar = tqdm(total=config.epochs * steps_per_epoch, desc=desc, unit="batch", disable=None if progress else True)
    for epoch in range(config.epochs):
        order = torch.randperm(len(data), generator=generator)
        total = 0.0
        for start in range(0, len(data), config.batch_size):
            index = order[start:start + config.batch_size]
            labels = data.labels[index].to(device)
            extra = {k: v.to(device) for k, v in model_inputs(data, index).items()}
            if cached is None:
                pixels = data.pixels(index)
                if augment is not None:
                    pixels = augment(pixels, generator, labels=labels) if labelled else augment(pixels, generator)
                outputs = model(pixels.to(device), **extra)
            else:
                outputs = model.head(cached[index].to(device), **extra)
            loss = loss_fn(outputs, labels, iteration=iteration) if scheduled else loss_fn(outputs, labels)
            iteration += 1
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            bar.update(1)
        history.append(total / len(data))
        bar.set_postfix(epoch=epoch + 1, loss=f"{history[-1]:.4f}")
    bar.close()
    model.eval()
    return history
