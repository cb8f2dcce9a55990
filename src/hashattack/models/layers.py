"""Drop-in layers for the small CNNs that are faster on CPU where PyTorch's own kernels are slow.

Profiled on 2 CPU cores, one step of DHTA on the embedded model (50 queries, one thread) spent
about 60 % of its time in two places: max pooling, whose NCHW kernel (`max_pool2d_with_indices`)
runs at a few ns per value, and the input gradient of the first convolution, whose one input
channel oneDNN handles badly (3.6 ms for 11 MFLOP). Both layers here keep the modules' parameters,
state_dict keys and outputs, and replace only the arithmetic where it pays:

- `FastMaxPool2d`: 2x2 max pooling (stride 2) of a contiguous float NCHW tensor on CPU by a numba
  kernel that keeps each window's chosen position in one byte (PyTorch keeps an int64 index and
  its NCHW kernel branches on every value). It chooses as PyTorch's CPU kernel does (the first
  maximum in row-major order, or the last NaN), so forward and backward are bit-identical to
  `nn.MaxPool2d(2)`. Anything else (odd sizes, channels-last, CUDA, other kernel sizes or dtypes)
  takes `nn.MaxPool2d`'s own path.
- `FastConv2d`: a convolution of a one-channel float32 image (stride 1, no dilation, zero padding
  p < k) computed, while its weights are frozen and its input needs a gradient (an attack's step),
  by numba kernels that make one long vectorised pass over the flattened, padded plane per tap.
  They accumulate in oneDNN's order (fma from zero over the taps in row-major order, then the bias;
  for the input gradient, over the taps and within each tap over the output channels), so on this
  AVX2 CPU both passes are bit-identical to `nn.Conv2d`'s (the tests check the gradient of a
  whole attack step); a CPU where oneDNN picks another kernel may differ in the last bits.
  Training and encoding (weights that need gradients, or no input gradient) take `nn.Conv2d`'s own
  path, so trained models and database codes cannot change.

`run_layers` runs a Sequential with each ReLU that feeds a `FastMaxPool2d` fused into the pooling.
All kernels run on the calling thread and release the GIL, as the sharded step loop
(`attacks.descent`) needs.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from numba import types
from numba.extending import intrinsic
from torch.autograd.function import once_differentiable

NO_GRADIENT = 255   # a window whose gradient is zero: its maximum was clipped by a fused ReLU


@numba.njit(nogil=True)
def _pool_forward(x, out, chosen, relu):
    """out = the maximum of each 2x2 window of x (B, C, H, W) (of relu(x) if `relu`), chosen = its position
    0..3, by the rule of PyTorch's CPU kernel: scan the window in row-major order from -inf and take a
    value greater than the maximum so far, or any NaN (so the first maximum, or the last NaN). With
    `relu`, a window whose maximum is not positive gets NO_GRADIENT, as ReLU's backward gives it."""
    batch, channels, height, width = x.shape
    for b in range(batch):
        for c in range(channels):
            for i in range(height // 2):
                top, bottom = x[b, c, 2 * i], x[b, c, 2 * i + 1]
                row_out, row_chosen = out[b, c, i], chosen[b, c, i]
                for j in range(width // 2):
                    best, where = -np.inf, 0
                    for k, v in enumerate((top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1])):
                        if relu and not (v > 0 or np.isnan(v)):
                            v = 0.0
                        if v > best or np.isnan(v):
                            best, where = v, k
                    if relu and not (best > 0 or np.isnan(best)):
                        where = NO_GRADIENT
                    row_out[j] = best
                    row_chosen[j] = where


@numba.njit(nogil=True)
def _pool_backward(grad, chosen, out):
    """out (B, C, H, W) = each window's gradient at its chosen position, 0 elsewhere (every value written)."""
    batch, channels, height, width = grad.shape
    for b in range(batch):
        for c in range(channels):
            for i in range(height):
                top, bottom = out[b, c, 2 * i], out[b, c, 2 * i + 1]
                row_grad, row_chosen = grad[b, c, i], chosen[b, c, i]
                for j in range(width):
                    k, g = row_chosen[j], row_grad[j]
                    top[2 * j] = g if k == 0 else 0.0
                    top[2 * j + 1] = g if k == 1 else 0.0
                    bottom[2 * j] = g if k == 2 else 0.0
                    bottom[2 * j + 1] = g if k == 3 else 0.0


class _MaxPool2x2(torch.autograd.Function):
    """2x2 max pooling with stride 2 (after a ReLU if `relu`) of a contiguous float NCHW CPU tensor, H and W even."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, relu: bool) -> torch.Tensor:
        batch, channels, height, width = x.shape
        out = x.new_empty(batch, channels, height // 2, width // 2)
        chosen = torch.empty(out.shape, dtype=torch.uint8)
        _pool_forward(x.detach().numpy(), out.numpy(), chosen.numpy(), relu)
        ctx.save_for_backward(chosen)
        ctx.input_shape = x.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (chosen,) = ctx.saved_tensors
        out = grad.new_empty(ctx.input_shape)
        _pool_backward(grad.contiguous().numpy(), chosen.numpy(), out.numpy())
        return out, None


class FastMaxPool2d(nn.MaxPool2d):
    """`nn.MaxPool2d`, with a faster exact path for 2x2 windows of stride 2 on contiguous NCHW CPU tensors."""

    def fast(self, x: torch.Tensor) -> bool:
        return (x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64)
                and x.is_contiguous() and x.shape[2] % 2 == 0
                and x.shape[3] % 2 == 0 and _pair(self.kernel_size) == (2, 2) and _pair(self.stride) == (2, 2)
                and _pair(self.padding) == (0, 0) and _pair(self.dilation) == (1, 1)
                and not self.ceil_mode and not self.return_indices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _MaxPool2x2.apply(x, False) if self.fast(x) else super().forward(x)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma), as oneDNN's convolution kernels accumulate."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


@numba.njit(nogil=True)
def _shifted_sums(planes, weight, flipped, width, n, acc):
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
                    acc[t] = _fma(source[t], w, acc[t])


@numba.njit(nogil=True)
def _conv_forward(padded, weight, bias, out):
    """out (B, O, H, W) = the convolution of one-channel images, zero-padded and flattened row by row
    (`padded` (B, 1, (H + k - 1) * (W + k - 1) + k - 1)), with weight (O, k, k): per output value fma over
    the taps in row-major order from 0, then + bias[o], as oneDNN's kernel (bit-identical on AVX2)."""
    batch, channels, height, width = out.shape
    k = weight.shape[1]
    padded_width = width + k - 1
    n = height * padded_width
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        for o in range(channels):
            _shifted_sums(padded[b], weight[o:o + 1], False, padded_width, n, acc)
            for y in range(height):
                row, sums = out[b, o, y], acc[y * padded_width:y * padded_width + width]
                for x in range(width):
                    row[x] = sums[x] + bias[o]


@numba.njit(nogil=True)
def _conv_input_gradient(padded_grad, weight, out):
    """out (B, H, W) = the gradient of the one-channel input of a stride-1 convolution with weight (O, k, k),
    from the gradient of its output zero-padded to (B, O, (H + k - 1) * (W + k - 1) + k - 1): per input
    value fma over the taps in row-major order and, within a tap, over the output channels, as
    oneDNN's backward kernel (bit-identical on AVX2)."""
    batch, height, width = out.shape
    k = weight.shape[1]
    padded_width = width + k - 1
    n = height * padded_width
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        _shifted_sums(padded_grad[b], weight, True, padded_width, n, acc)
        for y in range(height):
            row, sums = out[b, y], acc[y * padded_width:y * padded_width + width]
            for x in range(width):
                row[x] = sums[x]


def _flat_padded(planes: torch.Tensor, height: int, width: int, before: int, k: int) -> torch.Tensor:
    """planes (B, C, h, w) placed at row and column `before` of zero planes (height, width), flattened row by
    row with k - 1 zeros after (the last taps of `_shifted_sums` read that far): (B, C, height * width + k - 1)."""
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
        padded = _flat_padded(x.detach(), height + 2 * padding, width + 2 * padding, padding, k)
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
        padded = _flat_padded(grad, height + k - 1, width + k - 1, k - 1 - ctx.padding, k)
        out = grad.new_empty(ctx.input_shape)
        _conv_input_gradient(padded.numpy(), kernel.numpy(), out[:, 0].numpy())
        return out, None, None, None


class FastConv2d(nn.Conv2d):
    """`nn.Conv2d`, with a faster path for one-channel inputs while its weights are frozen (see the module docstring)."""

    def fast(self, x: torch.Tensor) -> bool:
        kernel = _pair(self.kernel_size)
        padding = self.padding if isinstance(self.padding, str) else _pair(self.padding)
        return (x.device.type == "cpu" and x.dim() == 4 and x.dtype == torch.float32 and x.shape[1] == 1
                and self.weight.dtype == torch.float32 and x.requires_grad
                and torch.is_grad_enabled() and not self.weight.requires_grad
                and (self.bias is None or not self.bias.requires_grad)
                and self.in_channels == 1 and self.groups == 1 and kernel[0] == kernel[1]
                and _pair(self.stride) == (1, 1) and _pair(self.dilation) == (1, 1)
                and self.padding_mode == "zeros" and isinstance(padding, tuple) and padding[0] == padding[1] < kernel[0]
                and x.shape[2] + 2 * padding[0] >= kernel[0] and x.shape[3] + 2 * padding[0] >= kernel[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast(x):
            return super().forward(x)
        return _OneChannelConv.apply(x, self.weight, self.bias, _pair(self.padding)[0])


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def run_layers(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`layers(x)`, with each ReLU that feeds a `FastMaxPool2d` on its fast path run as one fused step.

    max(relu(a), relu(b)) = relu(max(a, b)), and the fused kernel gives the gradient that ReLU's
    backward gives after the pooling's (zero where the window's maximum is not positive), so the
    result and its gradient are those of the layers one by one; the fused step never writes the
    full-size ReLU output nor reads it back in the backward pass.
    """
    modules = list(layers)
    i = 0
    while i < len(modules):
        module, following = modules[i], modules[i + 1] if i + 1 < len(modules) else None
        if type(module) is nn.ReLU and isinstance(following, FastMaxPool2d) and following.fast(x):
            x = _MaxPool2x2.apply(x, True)
            i += 2
        else:
            x = module(x)
            i += 1
    return x
