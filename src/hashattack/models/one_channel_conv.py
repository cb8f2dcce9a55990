"""A convolution of one-channel images for CPU attacks, in oneDNN's order: `FastConv2d`.

oneDNN handles a convolution with one input channel badly: the input gradient of the small CNN's
first layer took 3.6 ms of a 10 ms DHTA step (50 queries, one thread) for 11 MFLOP. While its
weights are frozen and its input needs a gradient (an attack's step), `FastConv2d` (float32,
stride 1, no dilation, zero padding p < k) computes both passes with numba kernels that make one
long vectorised pass over a flattened, zero-padded plane per tap (`shifted_sums`). They accumulate
in oneDNN's order (fma from zero over the taps in row-major order, then the bias; for the input
gradient, over the taps and within each tap over the output channels), so on AVX-512 CPUs, where
this order was read off (torch reports "AVX512"), both passes are bit-identical to `nn.Conv2d`'s;
a CPU where oneDNN picks another kernel (AVX2) may differ in the last bits. Training and encoding
(weights that need gradients, or no input gradient) take `nn.Conv2d`'s own path, so trained
models and database codes cannot change.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from hashattack.models.cpu_kernels import conv_forward, conv_input_gradient
from hashattack.models.max_pool import pair


def flat_padded(planes: torch.Tensor, height: int, width: int, before: int, k: int) -> torch.Tensor:
    """planes (B, C, h, w) placed at row and column `before` of zero planes (height, width), flattened row by
    row with k - 1 zeros after (the last taps of `shifted_sums` read that far): (B, C, height * width + k - 1)."""
    batch, channels, h, w = planes.shape
    flat = planes.new_zeros(batch, channels, height * width + k - 1)
    flat[:, :, :height * width].view(batch, channels, height, width)[:, :, before:before + h, before:before + w] = planes
    return flat


def kernel_inputs(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> tuple:
    """What the forward kernels take from a convolution of (B, 1, H, W) with weight (O, 1, k, k): the images
    zero-padded and flattened (`flat_padded`), the kernel (O, k, k), the bias (zeros without one), and the
    output's (height, width)."""
    out_channels, _, k, _ = weight.shape
    _, _, height, width = x.shape
    padded = flat_padded(x.detach(), height + 2 * padding, width + 2 * padding, padding, k)
    offsets = bias.detach() if bias is not None else x.new_zeros(out_channels)
    return (padded, weight.detach()[:, 0].contiguous(), offsets,
            (height + 2 * padding - k + 1, width + 2 * padding - k + 1))


class _OneChannelConv(torch.autograd.Function):
    """Convolution of float32 (B, 1, H, W) with frozen weights (O, 1, k, k), stride 1, zero padding p < k."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
        padded, kernel, offsets, (height, width) = kernel_inputs(x, weight, bias, padding)
        out = x.new_empty(len(x), len(kernel), height, width)
        conv_forward(padded.numpy(), kernel.numpy(), offsets.numpy(), out.numpy())
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
        conv_input_gradient(padded.numpy(), kernel.numpy(), out[:, 0].numpy())
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
