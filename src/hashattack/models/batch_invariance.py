"""A query's arithmetic that does not depend on the batch it runs in: `in_blocks`, `row_norms`.

CPU kernels choose their algorithm by the shape they are given, and the choice moves the last bits
of each row. Measured on an AVX2 CPU (torch 2.14.1, MKL 2024.2, oneDNN 3.12): MKL's sgemm gives
other bits for a row of a batch of M < 12 rows (at 1 or 2 threads) than for the same row in a larger
batch, and oneDNN's convolution for a minibatch of 1; ATen's vectorised elementwise loops run their
last few values through scalar code (another `tanh`). Over 2000 normalised-gradient steps such
last-bit differences grow to whole ε steps and flip codes, so a batched attack would not equal the
one-query-at-a-time attack.

`in_blocks(fn, x)` runs `fn` once on `x` padded with zero rows to a multiple of `BLOCK` rows and
returns every row (the padding included; cut it off with `[:len(x)]` once the per-row work is done).
No kernel then sees fewer than 16 rows, where their choices settle (a row of a batch of 16 or more
gets the same bits whatever the batch's size, measured for the small CNN's layers and checked by
the tests, natively and with the kernels held to AVX2), and the elementwise loops have no ragged
tail: a query's rows get the same bits at batch 1, 7 or 100, in any shard and at any thread count.
One call keeps the step loop as fast as before; a call per block of 16 measured 0.56x the
throughput. Only on CPUs; on other devices `fn(x)` runs on the batch as it is (GPU kernels make no
such promise: use float64 on CPU to reproduce a result exactly elsewhere). The cost is the padding
(at most BLOCK - 1 rows a batch). The attacks run a model through `model_rows`: in blocks for image
batches (B, C, H, W); a video model is called on the whole batch, since its frame counts are bound
to the batch (`models.inputs.bind_inputs`) and its frame encoder sees all real frames at once.
"""

from __future__ import annotations

from typing import Callable

import torch

BLOCK = 16   # rows a batch is padded to a multiple of on a CPU: at or above the sizes where MKL's kernel choice settles


def padded_rows(x: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """`x` (B, ...) with zero rows appended up to a multiple of `block` rows."""
    missing = -len(x) % block
    if not missing:
        return x
    return torch.cat([x, x.new_zeros((missing, *x.shape[1:]))])


def in_blocks(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """`fn` applied on a CPU to `x` (B, ...) padded with zero rows to a multiple of `block` rows (see the module
    docstring); returns all its rows, padding rows included. Elsewhere `fn(x)`."""
    if x.device.type != "cpu" or not len(x):
        return fn(x)
    return fn(padded_rows(x, block))


def row_norms(x: torch.Tensor) -> torch.Tensor:
    """The ℓ2 norm of each row of `x` (B, ...), (B,), each computed in a block of fixed shape (`in_blocks`)."""
    return in_blocks(lambda part: part.flatten(1).norm(dim=1), x)[:len(x)]


def model_rows(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """`model(x)` for a batch of images (B, C, H, W) on a CPU in blocks (`in_blocks`, padding rows included);
    any other input (videos) in one call."""
    return in_blocks(model, x) if x.dim() == 4 else model(x)
