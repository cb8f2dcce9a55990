"""Adversarial training's loop: every training batch partly replaced by attacks on the model being trained.

The settings and the inner attacks' goal codes are `training.adversarial`'s (see its docstring for
the min-max and the three methods); here the inner attack is built from the attacks' registry
(`INNER_ATTACK`: "Untargeted" or "DHTA"), which is why this sits above both layers.

    history = adversarial_train(model, dataset.train, TrainConfig(), AdversarialTraining("center"))
"""

from __future__ import annotations

from typing import Callable

import torch

from hashattack.attacks.registry import build_attack
from hashattack.data.base import LabeledSet
from hashattack.errors import InputError
from hashattack.models.inputs import model_inputs
from hashattack.training.adversarial import INNER_ATTACK, AdversarialTraining, benign_codes, goal_codes
from hashattack.training.loop import TrainConfig, train_model


def adversarial_augment(model: torch.nn.Module, settings: AdversarialTraining) -> Callable:
    """The training loop's `augment` hook: a batch with a share `mix` of it replaced by adversarial examples."""
    attack = build_attack(INNER_ATTACK[settings.method], model, eps=settings.eps, eps_space=settings.eps_space,
                          steps=settings.steps, step_size=settings.step_factor)

    def augment(pixels: torch.Tensor, generator: torch.Generator, labels: torch.Tensor) -> torch.Tensor:
        count = max(1, round(settings.mix * len(pixels)))
        rows = torch.randperm(len(pixels), generator=generator)[:count]
        device = next(model.parameters()).device
        batch, labels = pixels.to(device), labels.to(device)
        codes = benign_codes(model, batch)
        goals = goal_codes(settings.method, codes, labels, rows.to(device), generator)
        adversarial = attack(batch[rows]) if goals is None else attack(batch[rows], goals)
        mixed = pixels.clone()
        mixed[rows] = adversarial.to(mixed.device, mixed.dtype)
        return mixed

    return augment


def adversarial_train(model: torch.nn.Module, data: LabeledSet, config: TrainConfig, settings: AdversarialTraining,
                      device: str | torch.device = "cpu", progress: bool = True) -> list[float]:
    """Train `model` in place on `data` with adversarial examples made on the fly; returns the mean loss of
    each epoch. Deterministic for a seed on CPU. Image models only: a video model's extra inputs (frame
    counts) do not reach the inner attack."""
    if len(data) and model_inputs(data, torch.arange(1)):
        raise InputError("adversarial training takes image models; videos (with frame counts) are not supported")
    model.to(device)
    return train_model(model, data, config, device, progress, augment=adversarial_augment(model, settings),
                       desc=f"adversarial train ({settings.method})")


__all__ = ["adversarial_augment", "adversarial_train"]
