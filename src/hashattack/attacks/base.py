"""Base class of all attacks: the model (eval mode, weights frozen), the ε ball and its space.

Inputs are pixels in [0, 1], (B, C, H, W) or any (B, ...) the model takes; the model owns its
normalisation. ε is per channel and lives in one of two spaces:

- "pixel" (default, the convention of most later work): |x' - x| <= ε in [0, 1] pixel units;
- "normalized" (the official DHTA code): |x'_n - x_n| <= ε after the model's (x - mean) / std,
  i.e. ε·std per channel in pixel units. The paper's ImageNet preset is ε = 0.032 here.

Either way the bound is stored as one per-channel tensor in pixel units (`eps_pixel`), so both
are exact. "normalized" needs a model with `mean` and `std` tensors; without them it is refused
(it would silently be pixel units).

Edges every attack shares: inputs holding NaN or inf, or values outside [0, 1], are refused; an
empty batch (B = 0) gives an empty result of the same shape (nothing is run); a model whose
outputs are NaN or inf, or whose code length differs from the anchors', is refused at the
first step (`check_outputs`), each with a one-line `InputError`. So are a model that is not a
`torch.nn.Module`, one returning anything but a float tensor (B, K) (a tuple, a dict, (B, K, 1),
integers, another number of rows; `checked`), an ε that is not a number or one per channel, and
a per-channel ε whose length is neither 1 nor the channel count. Float64 (or float16) pixels are
cast to the model's dtype (`working_dtype`); numpy arrays and lists are refused (give a tensor).
The model's train / eval mode and its parameters' requires_grad flags are restored after a call
(`models.calls.frozen`).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Callable

import numpy as np
import torch
from torch import nn

from hashattack.data.registry import PIXEL_EPS
from hashattack.errors import InputError
from hashattack.models.calls import call_model, check_model, checked_outputs, frozen, working_dtype
from hashattack.validation import EPS_SPACES, check_choice, pixel_problem

DEFAULT_EPS = PIXEL_EPS   # ε of an attack built directly (and of `attack_to_label`): 8/255 in pixel space


def normalization(model: nn.Module, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's (mean, std) buffers, already shaped to broadcast over its input (e.g. (1, C, 1, 1)
    for images, (1, 1, C, 1, 1) for videos); (0, 1) scalars for a model without normalisation."""
    mean, std = getattr(model, "mean", None), getattr(model, "std", None)
    if not isinstance(mean, torch.Tensor) or not isinstance(std, torch.Tensor):
        return torch.zeros((), device=like.device), torch.ones((), device=like.device)
    return mean.detach().to(like.device), std.detach().to(like.device)


def eps_tensor(eps) -> torch.Tensor:
    """ε as a flat float64 tensor: a number, or one number per channel (a list, an array, a tensor)."""
    values = eps if isinstance(eps, torch.Tensor) else np.asarray(eps, dtype=object)
    numbers = values.flatten().tolist()
    if not numbers or any(isinstance(v, bool) or not isinstance(v, Real) for v in numbers):
        raise InputError(f"eps must be a positive number or one per channel, got {eps!r}")
    return torch.tensor([float(v) for v in numbers], dtype=torch.float64)   # cast to the attack's dtype when used


def check_step_size(step_size) -> float:
    """A step length: a positive finite number (not a bool, not a string)."""
    if isinstance(step_size, bool) or not isinstance(step_size, Real) or not 0 < step_size < math.inf:
        raise InputError(f"step_size must be a positive finite number, got {step_size!r}")
    return float(step_size)


def check_flags(**flags) -> None:
    """Switches must be True or False: a string such as "no" would silently count as True."""
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise InputError(f"{name} must be True or False, got {value!r}")


class Attack:
    """An attack built with a model and hyper-parameters, called on a batch of pixel images."""

    name = "attack"
    progress = False  # True: iterative attacks show a progress bar over their steps (with ETA)
    bounded = True    # False: the attack ignores ε (the benign query), so its space needs no normalisation

    def __init__(self, model: nn.Module, eps: float | torch.Tensor = DEFAULT_EPS, eps_space: str = "pixel"):
        check_choice(eps_space, EPS_SPACES, "eps space")
        eps_t = eps_tensor(eps)
        if not torch.isfinite(eps_t).all() or (eps_t <= 0).any():
            raise InputError(f"eps must be positive and finite, got {eps}")
        if eps_space == "pixel" and (eps_t > 1).any():
            raise InputError(f"pixel-space eps must be at most 1 (pixels lie in [0, 1]), got {eps}")
        self.model = check_model(model, f"the model of {type(self).__name__}")
        self.eps = eps_t
        self.eps_space = eps_space
        std = getattr(model, "std", None)
        if eps_space == "normalized" and self.bounded and not (
                isinstance(std, torch.Tensor) and isinstance(getattr(model, "mean", None), torch.Tensor)):
            raise InputError(f"eps_space='normalized' needs a model with `mean` and `std` tensors, and "
                             f"{type(model).__name__} has none; use eps_space='pixel' (--eps-space pixel) or give the "
                             "model its normalisation as `mean` / `std` buffers")
        if isinstance(std, torch.Tensor) and std.numel() > 1 and eps_t.numel() not in (1, std.numel()):
            raise InputError(f"eps has {eps_t.numel()} values but {type(model).__name__} normalises "
                             f"{std.numel()} channels; give one eps or one per channel")
        if eps_space == "normalized" and isinstance(std, torch.Tensor):
            std = std.detach().cpu().flatten()
            if eps_t.numel() in (1, std.numel()) and (eps_t * std > 1).any():
                raise InputError(f"normalized eps {eps} is more than 1 in pixel units (eps x std = "
                                 f"{[round(v, 4) for v in (eps_t * std).tolist()]}); pixels lie in [0, 1]")

    def normalization(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return normalization(self.model, images)

    def working_dtype(self, images: torch.Tensor) -> torch.dtype:
        """The dtype an attack computes in: its model's (the dtype of its first floating parameter), else the
        images'. A float64 model gets a float64 attack; a float32 model a float32 one, whatever the images."""
        return working_dtype(self.model, images)

    def eps_pixel(self, images: torch.Tensor) -> torch.Tensor:
        """The per-channel bound in pixel units, shaped to broadcast over `images`."""
        _, std = self.normalization(images)
        eps = self.eps.to(images.device, images.dtype if images.is_floating_point() else torch.float32)
        if eps.numel() == 1:
            eps = eps.reshape(())
        elif std.numel() == eps.numel():
            eps = eps.view(std.shape)
        else:  # per-channel eps for a model without normalisation: channels on dim 1
            if images.shape[1] != eps.numel():
                raise InputError(f"eps has {eps.numel()} values but the images have {images.shape[1]} channel(s) "
                                 f"(shape {tuple(images.shape)}); give one eps or one per channel")
            eps = eps.view(1, -1, *([1] * (images.dim() - 2)))
        return eps * std if self.eps_space == "normalized" else eps * torch.ones_like(std)

    def __call__(self, images: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.dim() < 2:
            got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
            raise InputError(f"attack inputs must be a float tensor (B, C, ...) of pixels in [0, 1], got {got}")
        why = pixel_problem(images)
        if why is not None:
            raise InputError(f"attack inputs must be pixels in [0, 1]; these hold {why}")
        with frozen(self.model):
            return self.forward(images, *args, **kwargs).detach()

    def forward(self, images: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        raise NotImplementedError

    def checked(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        """`fn` (the model, or its `features`) with its outputs checked (`models.calls`): a tuple, a dict,
        integers, (B, K, 1), a wrong number of rows or a model made for other inputs are one line. For the
        first step of an attack; later steps call `fn` itself."""
        def run(part: torch.Tensor) -> torch.Tensor:
            outputs = call_model(fn, part, f"the model of {self.name}")
            return checked_outputs(outputs, len(part), f"a batch of {len(part)} inputs of {self.name}",
                                   f"the model of {self.name}")
        return run

    def check_outputs(self, outputs: torch.Tensor, width: int, what: str = "code length") -> None:
        """Refuse model outputs (B, K) that are NaN / inf or whose K differs from `width` (the anchors')."""
        if outputs.dim() != 2 or outputs.shape[1] != width:
            raise InputError(f"the model gives outputs of shape {tuple(outputs.shape)} but the {self.name} targets "
                             f"have {what} {width}; give targets of the model's {what}")
        if not bool(torch.isfinite(outputs).all()):
            raise InputError(f"the model gives NaN or inf outputs for {self.name}'s inputs (NaN weights?); "
                             "an attack needs finite outputs")

    def settings(self) -> dict:
        """Hyper-parameters to record in a run's results."""
        return {"name": self.name, "eps": self.eps.tolist(), "eps_space": self.eps_space}
