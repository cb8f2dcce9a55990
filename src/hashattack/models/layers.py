"""Drop-in layers for the small CNNs that are faster on CPU where PyTorch's own kernels are slow.

Profiled on 2 CPU cores, one step of DHTA on the embedded model (50 queries, one thread) spent
about 60 % of its time in two places: max pooling, whose NCHW kernel (`max_pool2d_with_indices`)
runs at a few ns per value, and the input gradient of the first convolution, whose one input
channel oneDNN handles badly (3.6 ms for 11 MFLOP). The layers here keep the modules' parameters,
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

`run_layers` runs a Sequential with these layers fused where they follow each other: a
`FastConv2d`, ReLU and `FastMaxPool2d` in one pass per image that never stores the convolution's
output (its planes stay in cache), and a ReLU inside the pooling that follows it. Fused or not,
values and gradients are the same bits. All kernels run on the calling thread, release the GIL
(as the sharded step loop of `attacks.descent` needs) and are cached on disk by numba after their
first compilation (about 2 s).
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


@numba.njit(nogil=True, cache=True, inline="always")
def _choose(v0, v1, v2, v3, relu):
    """(maximum, position 0..3) of a 2x2 window (of relu of it if `relu`) by the rule of PyTorch's CPU
    kernel: scan the window in row-major order from -inf and take a value greater than the maximum so
    far, or any NaN (so the first maximum, or the last NaN). With `relu`, a window whose maximum is not
    positive gets NO_GRADIENT, as ReLU's backward gives it."""
    best, where = -np.inf, 0
    for k, v in enumerate((v0, v1, v2, v3)):
        if relu and not (v > 0 or np.isnan(v)):
            v = 0.0
        if v > best or np.isnan(v):
            best, where = v, k
    if relu and not (best > 0 or np.isnan(best)):
        where = NO_GRADIENT
    return best, where


@numba.njit(nogil=True, cache=True, inline="always")
def _spread(top, bottom, j, where, g):
    """Write window j's gradient g at its chosen position of rows `top` / `bottom`, 0 at the other three."""
    top[2 * j] = g if where == 0 else 0.0
    top[2 * j + 1] = g if where == 1 else 0.0
    bottom[2 * j] = g if where == 2 else 0.0
    bottom[2 * j + 1] = g if where == 3 else 0.0


@numba.njit(nogil=True, cache=True)
def _pool_forward(x, out, chosen, relu):
    """out = the maximum of each 2x2 window of x (B, C, H, W), chosen = its position (`_choose`)."""
    batch, channels, height, width = x.shape
    for b in range(batch):
        for c in range(channels):
            for i in range(height // 2):
                top, bottom = x[b, c, 2 * i], x[b, c, 2 * i + 1]
                row_out, row_chosen = out[b, c, i], chosen[b, c, i]
                for j in range(width // 2):
                    row_out[j], row_chosen[j] = _choose(top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1], relu)


@numba.njit(nogil=True, cache=True)
def _pool_backward(grad, chosen, out):
    """out (B, C, H, W) = each window's gradient at its chosen position, 0 elsewhere (every value written)."""
    batch, channels, height, width = grad.shape
    for b in range(batch):
        for c in range(channels):
            for i in range(height):
                top, bottom = out[b, c, 2 * i], out[b, c, 2 * i + 1]
                row_grad, row_chosen = grad[b, c, i], chosen[b, c, i]
                for j in range(width):
                    _spread(top, bottom, j, row_chosen[j], row_grad[j])


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

    def pools_2x2(self) -> bool:
        """2x2 windows with stride 2, no padding, dilation or ceil mode: what the kernel computes."""
        return (_pair(self.kernel_size) == (2, 2) and _pair(self.stride) == (2, 2) and _pair(self.padding) == (0, 0)
                and _pair(self.dilation) == (1, 1) and not self.ceil_mode and not self.return_indices)

    def fast(self, x: torch.Tensor) -> bool:
        return (x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64)
                and x.is_contiguous() and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 and self.pools_2x2())

    def fits(self, padding: int, kernel, x: torch.Tensor) -> bool:
        """Whether this pooling runs fused after a one-channel convolution of `x` (stride 1) with that padding."""
        k = _pair(kernel)[0]
        return self.pools_2x2() and (x.shape[2] + 2 * padding - k + 1) % 2 == 0 and (x.shape[3] + 2 * padding - k + 1) % 2 == 0

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


@numba.njit(nogil=True, cache=True)
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


@numba.njit(nogil=True, cache=True)
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


@numba.njit(nogil=True, cache=True)
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


@numba.njit(nogil=True, cache=True)
def _conv_relu_pool_forward(padded, weight, bias, out, chosen):
    """`_conv_forward`, ReLU and 2x2 max pooling of one-channel images in one pass per image: each output
    plane is pooled (`_choose`) while it is in cache; only the pooled values and positions are written."""
    batch, channels, pooled_height, pooled_width = out.shape
    k = weight.shape[1]
    padded_width = 2 * pooled_width + k - 1
    n = 2 * pooled_height * padded_width
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        for o in range(channels):
            _shifted_sums(padded[b], weight[o:o + 1], False, padded_width, n, acc)
            offset = bias[o]
            for i in range(pooled_height):
                top = acc[2 * i * padded_width:(2 * i + 1) * padded_width]
                bottom = acc[(2 * i + 1) * padded_width:(2 * i + 2) * padded_width]
                row_out, row_chosen = out[b, o, i], chosen[b, o, i]
                for j in range(pooled_width):
                    row_out[j], row_chosen[j] = _choose(top[2 * j] + offset, top[2 * j + 1] + offset,
                                                        bottom[2 * j] + offset, bottom[2 * j + 1] + offset, True)


@numba.njit(nogil=True, cache=True)
def _conv_relu_pool_backward(grad, chosen, weight, padding, out):
    """The input gradient through `_conv_relu_pool_forward`: per image, the pooled gradient is spread
    (`_spread`) into zero-bordered planes that stay in cache, then `_shifted_sums` as `_conv_input_gradient`."""
    batch, channels, pooled_height, pooled_width = grad.shape
    _, height, width = out.shape
    k = weight.shape[1]
    padded_width = width + k - 1
    n = height * padded_width
    before = k - 1 - padding                                  # row and column of the output plane's origin
    planes = np.zeros((channels, (height + k - 1) * padded_width + k - 1), weight.dtype)
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        for o in range(channels):                             # every value of the output plane is written
            for i in range(pooled_height):
                top_start = (before + 2 * i) * padded_width + before
                top = planes[o, top_start:top_start + 2 * pooled_width]
                bottom = planes[o, top_start + padded_width:top_start + padded_width + 2 * pooled_width]
                row_grad, row_chosen = grad[b, o, i], chosen[b, o, i]
                for j in range(pooled_width):
                    _spread(top, bottom, j, row_chosen[j], row_grad[j])
        _shifted_sums(planes, weight, True, padded_width, n, acc)
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


class _ConvReLUPool(torch.autograd.Function):
    """`_OneChannelConv`, ReLU and 2x2 max pooling as one step (`run_layers`); the conv output is never stored."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
        out_channels, _, k, _ = weight.shape
        batch, _, height, width = x.shape
        padded = _flat_padded(x.detach(), height + 2 * padding, width + 2 * padding, padding, k)
        pooled_shape = (batch, out_channels, (height + 2 * padding - k + 1) // 2, (width + 2 * padding - k + 1) // 2)
        out, chosen = x.new_empty(pooled_shape), torch.empty(pooled_shape, dtype=torch.uint8)
        kernel = weight.detach()[:, 0].contiguous()
        offsets = bias.detach() if bias is not None else x.new_zeros(out_channels)
        _conv_relu_pool_forward(padded.numpy(), kernel.numpy(), offsets.numpy(), out.numpy(), chosen.numpy())
        ctx.save_for_backward(kernel, chosen)
        ctx.padding, ctx.input_shape = padding, x.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        kernel, chosen = ctx.saved_tensors
        out = grad.new_empty(ctx.input_shape)
        _conv_relu_pool_backward(grad.contiguous().numpy(), chosen.numpy(), kernel.numpy(), ctx.padding, out[:, 0].numpy())
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
    """`layers(x)`, with the layers this module makes faster fused where their fast paths apply:

    - `FastConv2d`, ReLU, `FastMaxPool2d` (an attack's step through the first block of the small CNN):
      one pass per image that never stores the convolution's output (`_ConvReLUPool`);
    - ReLU, `FastMaxPool2d`: the ReLU inside the pooling kernel.

    max(relu(a), relu(b)) = relu(max(a, b)), and the fused kernels give the gradient that ReLU's
    backward gives after the pooling's (zero where the window's maximum is not positive), so values
    and gradients are those of the layers one by one, bit for bit.
    """
    modules = list(layers)
    i = 0
    while i < len(modules):
        module, second, third = (modules[i:i + 3] + [None, None])[:3]
        if (isinstance(module, FastConv2d) and type(second) is nn.ReLU and isinstance(third, FastMaxPool2d)
                and module.fast(x) and third.fits(_pair(module.padding)[0], module.kernel_size, x)):
            x = _ConvReLUPool.apply(x, module.weight, module.bias, _pair(module.padding)[0])
            i += 3
        elif type(module) is nn.ReLU and isinstance(second, FastMaxPool2d) and second.fast(x):
            x = _MaxPool2x2.apply(x, True)
            i += 2
        else:
            x = module(x)
            i += 1
    return x
