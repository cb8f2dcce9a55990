"""A convolution of one-channel images for CPU attacks, in oneDNN's order: `FastConv2d`.

oneDNN handles a convolution with one input channel badly: the input gradient of the small CNN's
first layer took 3.6 ms of a 10 ms DHTA step (50 queries, one thread) for 11 MFLOP. While its
weights are frozen and its input needs a gradient (an attack's step), `FastConv2d` (float32,
stride 1, no dilation, zero padding p < k) computes both passes with numba kernels that make one
long vectorised pass over a flattened, zero-padded plane per tap (`shifted_sums`). They accumulate
in oneDNN's order (fma from zero over the taps in row-major order, then the bias; for the input
gradient, over the taps and within each tap over the output channels), so on AVX-512 CPUs, where
this order was read off (torch reports "AVX512"), both passes are bit-identical to `nn.Conv2d`'s;
a CPU where oneDNN picks another kernel (AVX2) may differ in the last bits. Training and encoding (weights that need gradients, or no input gradient) take
`nn.Conv2d`'s own path, so trained models and database codes cannot change.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
import torch.nn.functional as F
from numba import types
from numba.extending import intrinsic
from torch import nn
from torch.autograd.function import once_differentiable

from hashattack.models.max_pool import pair


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma), as oneDNN's convolution kernels accumulate."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


@numba.njit(nogil=True, cache=True)
def shifted_sums(planes, weight, flipped, width, n, acc):
    """acc[:n] = sum over taps (i, j) of the kernel and over channels o of weight[o, i, j] * planes[o, offset + t]
    with offset = i * width + j (or (k-1-i) * width + (k-1-j) if `flipped`), accumulated with fma in
    the order i, j, o: one pass over a flat plane per tap, so every loop is long and vectorises."""
    channels, k = weight.shape[0], weight.shape[1]
    for t in range(n):
        acc[t] = 0.0
    for i in range(k):
        for j in range(k):
            offset = ((k - 1 - i) * width + (k - 1 - j)) if flipped else (i * width + j)
            for o in range(channels):
                source, w = planes[o, offset:offset + n], weight[o, i, j]
                for t in range(n):   # indices from 0: no negative-index check, so LLVM vectorises
                    acc[t] = fma(source[t], w, acc[t])


@numba.njit(nogil=True, cache=True)
def _conv_forward(padded, weight, bias, out):
    """out (B, O, H, W) = the convolution of one-channel images, zero-padded and flattened row by row
    (`padded` (B, 1, (H + k - 1) * (W + k - 1) + k - 1)), with weight (O, k, k): per output value fma over
    the taps in row-major order from 0, then + bias[o], as oneDNN's kernel (bit-identical on AVX-512)."""
    batch, channels, height, width = out.shape
    k = weight.shape[1]
    padded_width = width + k - 1
    n = height * padded_width
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        for o in range(channels):
            shifted_sums(padded[b], weight[o:o + 1], False, padded_width, n, acc)
            for y in range(height):
                row, sums = out[b, o, y], acc[y * padded_width:y * padded_width + width]
                for x in range(width):
                    row[x] = sums[x] + bias[o]


@numba.njit(nogil=True, cache=True)
def _conv_input_gradient(padded_grad, weight, out):
    """out (B, H, W) = the gradient of the one-channel input of a stride-1 convolution with weight (O, k, k),
    from the gradient of its output zero-padded to (B, O, (H + k - 1) * (W + k - 1) + k - 1): per input
    value fma over the taps in row-major order and, within a tap, over the output channels, as
    oneDNN's backward kernel (bit-identical on AVX-512)."""
    batch, height, width = out.shape
    k = weight.shape[1]
    padded_width = width + k - 1
    n = height * padded_width
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        shifted_sums(padded_grad[b], weight, True, padded_width, n, acc)
        for y in range(height):
            row, sums = out[b, y], acc[y * padded_width:y * padded_width + width]
            for x in range(width):
                row[x] = sums[x]


def flat_padded(planes: torch.Tensor, height: int, width: int, before: int, k: int) -> torch.Tensor:
    """planes (B, C, h, w) placed at row and column `before` of zero planes (height, width), flattened row by
    row with k - 1 zeros after (the last taps of `shifted_sums` read that far): (B, C, height * width + k - 1)."""
    batch, channels, h, w = planes.shape
    flat = planes.new_zeros(batch, channels, height * width + k - 1)
    flat[:, :, :height * width].view(batch, channels, height, width)[:, :, before:before + h, before:before + w] = planes
    return flat


class _OneChannelConv(torch.autograd.Function):
    """Convolution of float32 (B, 1, H, W) with frozen weights (O, 1, k, k), stride 1, zero padding p < k."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
        out_channels, _, k, _ = weight.shape
        batch, _, height, width = x.shape
        padded = flat_padded(x.detach(), height + 2 * padding, width + 2 * padding, padding, k)
        out = x.new_empty(batch, out_channels, height + 2 * padding - k + 1, width + 2 * padding - k + 1)
        kernel = weight.detach()[:, 0].contiguous()
        offsets = bias.detach() if bias is not None else x.new_zeros(out_channels)
        _conv_forward(padded.numpy(), kernel.numpy(), offsets.numpy(), out.numpy())
        ctx.save_for_backward(kernel)
        ctx.padding, ctx.input_shape = padding, x.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (kernel,) = ctx.saved_tensors
        k = kernel.shape[1]
        batch, _, height, width = ctx.input_shape
        padded = flat_padded(grad, height + k - 1, width + k - 1, k - 1 - ctx.padding, k)
        out = grad.new_empty(ctx.input_shape)
        _conv_input_gradient(padded.numpy(), kernel.numpy(), out[:, 0].numpy())
        return out, None, None, None


class FastConv2d(nn.Conv2d):
    """`nn.Conv2d`, with a faster path for one-channel inputs while its weights are frozen (see the module docstring)."""

    def fast(self, x: torch.Tensor) -> bool:
        kernel = pair(self.kernel_size)
        padding = self.padding if isinstance(self.padding, str) else pair(self.padding)
        return (x.device.type == "cpu" and x.dim() == 4 and x.dtype == torch.float32 and x.shape[1] == 1
                and self.weight.dtype == torch.float32 and x.requires_grad
                and torch.is_grad_enabled() and not self.weight.requires_grad
                and (self.bias is None or not self.bias.requires_grad)
                and self.in_channels == 1 and self.groups == 1 and kernel[0] == kernel[1]
                and pair(self.stride) == (1, 1) and pair(self.dilation) == (1, 1)
                and self.padding_mode == "zeros" and isinstance(padding, tuple) and padding[0] == padding[1] < kernel[0]
                and x.shape[2] + 2 * padding[0] >= kernel[0] and x.shape[3] + 2 * padding[0] >= kernel[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast(x):
            return super().forward(x)
        return _OneChannelConv.apply(x, self.weight, self.bias, pair(self.padding)[0])
