"""The projected, per-query normalised descent that DHTA's official code uses, shared by the attacks
that follow the same optimiser (DHTA, P2P, the feature-based attack).

- δ starts at 0 and lives in the model's normalised input space;
- each step: g = ∇_δ L; δ <- δ - step · g / ‖g‖₂, with the ℓ2 norm of *that query's* gradient;
  then x + δ is projected onto valid pixels and δ onto the ε ball (per channel);
- the step length is `step_size * sqrt(D / 150528)` for D values per query (`step_length`): the
  unit ℓ2 step of the official code was tuned for 3x224x224 inputs, and this keeps its per-value
  RMS step at other sizes (for 3x224x224 it is exactly `step_size`).

The loss must be a sum of per-query terms (the model in eval mode), so a batch of B queries gives
the same result as B one-query runs. That also lets the CPU path shard a batch: a batch of images
is cut into one contiguous shard per torch thread, and each shard runs the whole step loop on its
own Python thread with one intra-op thread (`descent_shards`), so the cores never meet at a
barrier inside an operation. On idle cores this measured the same throughput as one batch; with
other processes on the cores it slows down far less. On a CPU the first call also fixes glibc's
allocation thresholds (`models.acceleration.keep_freed_memory`), so a step's tensors reuse pages
instead of faulting in fresh ones.

The batch promise on a CPU: the attacks run image models on batches padded to a multiple of 16 rows and take each
query's gradient norm on such a padded batch (`models.batch_invariance`), and shard edges fall on whole
blocks, so a query's adversarial pixels are the same bits at any batch size, in any shard and at
any thread count (the tests check batch sizes 1, 7 and 36, shards, 1 and 2 threads, fp32 and
fp64). Not promised: on GPUs, for video models (their frame encoder sees a batch's real frames at
once), or across CPUs whose kernels round differently (AVX2 vs AVX-512) or torch versions; there
float64 (`model.double()`) agrees to about 1e-13 and gives the same codes.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

import torch
from tqdm.auto import tqdm

from hashattack.models.acceleration import keep_freed_memory
from hashattack.models.batch_invariance import BLOCK, row_norms

REFERENCE_INPUT_SIZE = 3 * 224 * 224
MIN_SHARD = 16   # queries per shard below which a batch is not cut


def descent_shards(images: torch.Tensor) -> int:
    """Shards of the step loop: one per torch thread for image batches (B, C, H, W) on a CPU with at
    least `MIN_SHARD` queries each; 1 on GPUs and for other inputs (videos bind per-query lengths)."""
    if images.device.type != "cpu" or images.dim() != 4:
        return 1
    return max(1, min(torch.get_num_threads(), len(images) // MIN_SHARD))


def step_length(images: torch.Tensor, step_size: float, scale_step: bool = True) -> float:
    """The ℓ2 length of one step for inputs shaped like `images` (B, ...) (see the module docstring)."""
    per_query = images[0].numel() if len(images) else 0
    return step_size * (math.sqrt(per_query / REFERENCE_INPUT_SIZE) if scale_step else 1.0)


def normalized_descent(images: torch.Tensor, loss_of: Callable, steps: int, step: float, eps_pixel: torch.Tensor,
                       std: torch.Tensor, progress: str | None = None,
                       early_stop: bool = False, shards: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise `loss_of(adversarial_pixels, t, active)` over the ε ball around `images`.

    images: (B, ...) pixels in [0, 1]; eps_pixel, std: per-channel tensors broadcasting over `images`
    (the bound in pixel units and the model's std); t: the 0-based iteration, for schedules;
    active: the indices (into the batch) of the queries still running, to select per-query targets.
    With `early_stop`, `loss_of` returns (loss, reached): a query whose `reached` is True is frozen
    with the δ that reached its goal and leaves the batch (the official optimiser never stops, so
    this is off by default). `progress`: the description of a progress bar over the steps.
    `shards`: threads sharing the batch (None: `descent_shards`; `loss_of` must then be safe to call
    from several threads, as a model in eval mode is).
    Returns (adversarial pixels (B, ...), forward/backward passes each query ran (B,) int64).
    """
    if not len(images):                                     # an empty batch: nothing to run
        return images.clone(), torch.zeros(0, dtype=torch.int64)
    if images.device.type == "cpu":
        keep_freed_memory()                                 # no fresh zeroed pages for every step's tensors
    shards = descent_shards(images) if shards is None else max(1, min(int(shards), len(images)))
    # shard edges on whole blocks of `models.batch_invariance.in_blocks`: a shard pads at most its last block
    bounds = sorted({min(len(images), BLOCK * round(len(images) * i / shards / BLOCK)) for i in range(shards)}
                    | {len(images)})
    shards = len(bounds) - 1
    if shards == 1:
        return _descent(images, loss_of, steps, step, eps_pixel, std, progress, early_stop)
    results: list = [None] * shards

    def run(i: int) -> None:
        start, stop = bounds[i], bounds[i + 1]
        try:
            results[i] = _descent(images[start:stop], lambda x, t, active: loss_of(x, t, active + start), steps,
                                  step, eps_pixel, std, progress if i == 0 else None, early_stop)
        except BaseException as error:   # re-raised in the calling thread
            results[i] = error

    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)             # process-wide: each shard's operations run on its own core
    try:
        workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(shards)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        torch.set_num_threads(threads_before)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return torch.cat([r[0] for r in results]), torch.cat([r[1] for r in results])


def _descent(images: torch.Tensor, loss_of: Callable, steps: int, step: float, eps_pixel: torch.Tensor,
             std: torch.Tensor, progress: str | None, early_stop: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """`normalized_descent` on one thread."""
    eps = eps_pixel / std                                   # the bound in normalised units
    lower, upper = (0 - images) / std, (1 - images) / std   # valid pixels, in normalised units
    shape = (-1, *([1] * (images.dim() - 1)))
    active = torch.arange(len(images), device=images.device)
    passes = torch.full((len(images),), steps, dtype=torch.int64)
    final = torch.zeros_like(images)
    current = images
    delta = torch.zeros_like(images)
    for t in tqdm(range(steps), desc=progress, unit="step", leave=False, disable=None if progress else True):
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
            norms = row_norms(grad).clamp_min(1e-12).view(shape)
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
