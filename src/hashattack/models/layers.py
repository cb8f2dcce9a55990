"""The small CNN's layers run fused during an attack: `run_layers`.

A `FastConv2d`, ReLU and `FastMaxPool2d` (`models.one_channel_conv`, `models.max_pool`) run as one
pass per image that never stores the convolution's output (its planes stay in cache), and a ReLU
runs inside the pooling that follows it. Fused or not, values and gradients are the same bits as
PyTorch's layers one by one. All kernels run on the calling thread, release the GIL (as the
sharded step loop of `attacks.descent` needs) and are cached on disk by numba after their first
compilation (about 2 s).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from hashattack.models.max_pool import FastMaxPool2d, MaxPool2x2, choose, pair, spread
from hashattack.models.one_channel_conv import FastConv2d, flat_padded, shifted_sums

__all__ = ["FastConv2d", "FastMaxPool2d", "run_layers"]


@numba.njit(nogil=True, cache=True)
def _conv_relu_pool_forward(padded, weight, bias, out, chosen):
    """`_conv_forward`, ReLU and 2x2 max pooling of one-channel images in one pass per image: each output
    plane is pooled (`choose`) while it is in cache; only the pooled values and positions are written."""
    batch, channels, pooled_height, pooled_width = out.shape
    k = weight.shape[1]
    padded_width = 2 * pooled_width + k - 1
    n = 2 * pooled_height * padded_width
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        for o in range(channels):
            shifted_sums(padded[b], weight[o:o + 1], False, padded_width, n, acc)
            offset = bias[o]
            for i in range(pooled_height):
                top = acc[2 * i * padded_width:(2 * i + 1) * padded_width]
                bottom = acc[(2 * i + 1) * padded_width:(2 * i + 2) * padded_width]
                row_out, row_chosen = out[b, o, i], chosen[b, o, i]
                for j in range(pooled_width):
                    row_out[j], row_chosen[j] = choose(top[2 * j] + offset, top[2 * j + 1] + offset,
                                                        bottom[2 * j] + offset, bottom[2 * j + 1] + offset, True)


@numba.njit(nogil=True, cache=True)
def _conv_relu_pool_backward(grad, chosen, weight, padding, out):
    """The input gradient through `_conv_relu_pool_forward`: per image, the pooled gradient is spread
    (`spread`) into zero-bordered planes that stay in cache, then `shifted_sums` as `_conv_input_gradient`."""
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
                    spread(top, bottom, j, row_chosen[j], row_grad[j])
        shifted_sums(planes, weight, True, padded_width, n, acc)
        for y in range(height):
            row, sums = out[b, y], acc[y * padded_width:y * padded_width + width]
            for x in range(width):
                row[x] = sums[x]


class _ConvReLUPool(torch.autograd.Function):
    """`_OneChannelConv`, ReLU and 2x2 max pooling as one step (`run_layers`); the conv output is never stored."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
        out_channels, _, k, _ = weight.shape
        batch, _, height, width = x.shape
        padded = flat_padded(x.detach(), height + 2 * padding, width + 2 * padding, padding, k)
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
                and module.fast(x) and third.fits(pair(module.padding)[0], module.kernel_size, x)):
            x = _ConvReLUPool.apply(x, module.weight, module.bias, pair(module.padding)[0])
            i += 3
        elif type(module) is nn.ReLU and isinstance(second, FastMaxPool2d) and second.fast(x):
            x = MaxPool2x2.apply(x, True)
            i += 2
        else:
            x = module(x)
            i += 1
    return x
