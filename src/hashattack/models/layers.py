"""The small CNN's layers run fused during an attack: `run_layers`.

A `FastConv2d`, ReLU and `FastMaxPool2d` (`models.one_channel_conv`, `models.max_pool`) run as one
pass per image that never stores the convolution's output (its planes stay in cache), and a ReLU
runs inside the pooling that follows it. Fused or not, values and gradients are the same bits as
PyTorch's layers one by one. All kernels run on the calling thread, release the GIL (as the
sharded step loop of `attacks.descent` needs) and are cached on disk by numba after their first
compilation (about 2 s).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from hashattack.models.cpu_kernels import conv_relu_pool_backward, conv_relu_pool_forward
from hashattack.models.max_pool import FastMaxPool2d, MaxPool2x2, pair
from hashattack.models.one_channel_conv import FastConv2d, kernel_inputs

__all__ = ["FastConv2d", "FastMaxPool2d", "run_layers"]


class _ConvReLUPool(torch.autograd.Function):
    """`_OneChannelConv`, ReLU and 2x2 max pooling as one step (`run_layers`); the conv output is never stored."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int,
                order: tuple[bool, int]) -> torch.Tensor:
        padded, kernel, offsets, (height, width) = kernel_inputs(x, weight, bias, padding)
        pooled_shape = (len(x), len(kernel), height // 2, width // 2)
        out, chosen = x.new_empty(pooled_shape), torch.empty(pooled_shape, dtype=torch.uint8)
        conv_relu_pool_forward(padded.numpy(), kernel.numpy(), offsets.numpy(), out.numpy(), chosen.numpy(), order[0])
        ctx.save_for_backward(kernel, chosen)
        ctx.padding, ctx.input_shape, ctx.block = padding, x.shape, order[1]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        kernel, chosen = ctx.saved_tensors
        out = grad.new_empty(ctx.input_shape)
        conv_relu_pool_backward(grad.contiguous().numpy(), chosen.numpy(), kernel.numpy(), ctx.padding, out[:, 0].numpy(),
                                ctx.block)
        return out, None, None, None, None


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
        order = module.order(x) if isinstance(module, FastConv2d) and module.fast(x) else None
        if (order is not None and type(second) is nn.ReLU and isinstance(third, FastMaxPool2d)
                and third.fits(pair(module.padding)[0], module.kernel_size, x)):
            x = _ConvReLUPool.apply(x, module.weight, module.bias, pair(module.padding)[0], order)
            i += 3
        elif type(module) is nn.ReLU and isinstance(second, FastMaxPool2d) and second.fast(x):
            x = MaxPool2x2.apply(x, True)
            i += 2
        else:
            x = module(x)
            i += 1
    return x
