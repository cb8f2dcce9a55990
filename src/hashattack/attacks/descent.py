"""The projected, per-query normalised descent that DHTA's official code uses, shared by the attacks
that follow the same optimiser (DHTA, P2P, the feature-based attack).

- δ starts at 0 and lives in the model's normalised input space;
- each step: g = ∇_δ L; δ <- δ - step · g / ‖g‖₂, with the ℓ2 norm of *that query's* gradient;
  then x + δ is projected onto valid pixels and δ onto the ε ball (per channel);
- the step length is `step_size * sqrt(D / 150528)` for D values per query (`step_length`): the
  unit ℓ2 step of the official code was tuned for 3x224x224 inputs, and this keeps its per-value
  RMS step at other sizes (for 3x224x224 it is exactly `step_size`).

The loss must be a sum of per-query terms (the model in eval mode), so a batch of B queries gives
the same result as B one-query runs.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm

REFERENCE_INPUT_SIZE = 3 * 224 * 224


def step_length(images: torch.Tensor, step_size: float, scale_step: bool = True) -> float:
    """The ℓ2 length of one step for inputs shaped like `images` (B, ...) (see the module docstring)."""
    per_query = images[0].numel() if len(images) else 0
    return step_size * (math.sqrt(per_query / REFERENCE_INPUT_SIZE) if scale_step else 1.0)


def normalized_descent(images: torch.Tensor, loss_of: Callable, steps: int, step: float, eps_pixel: torch.Tensor,
                       std: torch.Tensor, progress: str | None = None,
                       early_stop: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise `loss_of(adversarial_pixels, t, active)` over the ε ball around `images`.

    images: (B, ...) pixels in [0, 1]; eps_pixel, std: per-channel tensors broadcasting over `images`
    (the bound in pixel units and the model's std); t: the 0-based iteration, for schedules;
    active: the indices (into the batch) of the queries still running, to select per-query targets.
    With `early_stop`, `loss_of` returns (loss, reached): a query whose `reached` is True is frozen
    with the δ that reached its goal and leaves the batch (the official optimiser never stops, so
    this is off by default). `progress`: the description of a progress bar over the steps.
    Returns (adversarial pixels (B, ...), forward/backward passes each query ran (B,) int64).
    """
    if not len(images):                                     # an empty batch: nothing to run
        return images.clone(), torch.zeros(0, dtype=torch.int64)
    eps = eps_pixel / std                                   # the bound in normalised units
    lower, upper = (0 - images) / std, (1 - images) / std   # valid pixels, in normalised units
    shape = (-1, *([1] * (images.dim() - 1)))
    active = torch.arange(len(images), device=images.device)
    passes = torch.full((len(images),), steps, dtype=torch.int64)
    final = torch.zeros_like(images)
    current = images
    delta = torch.zeros_like(images)
    for t in tqdm(range(steps), desc=progress, unit="step", leave=False, disable=progress is None):
        delta.requires_grad_(True)
        result = loss_of(current + delta * std, t, active)
        loss, reached = result if early_stop else (result, None)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if reached is not None and bool(reached.any()):
                final[active[reached]] = delta[reached]
                passes[active[reached].cpu()] = t + 1
                keep = ~reached
                active, current, lower, upper = active[keep], current[keep], lower[keep], upper[keep]
                delta, grad = delta[keep], grad[keep]
                if len(active) == 0:
                    break
            norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
            delta = delta - step * grad / norms
            delta = torch.maximum(torch.minimum(delta, upper), lower)
            delta = torch.maximum(torch.minimum(delta, eps), -eps)
    final[active] = delta.detach()
    return (images + final * std).clamp(0, 1), passes


def to_pixel_grid(adversarial: torch.Tensor, images: torch.Tensor, eps_pixel: torch.Tensor,
                  levels: int = 255) -> torch.Tensor:
    """The adversarial pixels moved to the nearest 8-bit value (k / 255) inside the ε ball and [0, 1].

    What a search service receives is an 8-bit image; an attack that ends with this step is scored on
    exactly the pixels a lossless PNG stores. Each value is rounded to the grid, then clipped to the
    grid values in [x - ε, x + ε] ∩ [0, 1] (for 8-bit benign images and ε >= 1/255 one always exists;
    where none does, the value is left as it was).
    """
    lower = torch.ceil(((images - eps_pixel).clamp(0, 1) * levels) - 1e-4) / levels
    upper = torch.floor(((images + eps_pixel).clamp(0, 1) * levels) + 1e-4) / levels
    rounded = torch.round(adversarial * levels) / levels
    grid = torch.maximum(torch.minimum(rounded, upper), lower)
    return torch.where(lower <= upper, grid, adversarial)
