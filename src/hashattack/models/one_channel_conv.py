"""A convolution of one-channel images for CPU attacks, in oneDNN's order: `FastConv2d`.

oneDNN handles a convolution with one input channel badly: the input gradient of the small CNN's
first layer took 3.6 ms of a 10 ms DHTA step (50 queries, one thread) for 11 MFLOP. While its
weights are frozen and its input needs a gradient (an attack's step), `FastConv2d` (float32,
stride 1, no dilation, zero padding p < k) computes both passes with numba kernels that make one
long vectorised pass over a flattened, zero-padded plane per tap (`shifted_sums`). They accumulate
in the order of oneDNN's kernel on this CPU, so both passes are bit-identical to `nn.Conv2d`'s:

- AVX-512 kernel: fma from zero over the taps in row-major order, then + bias; input gradient: over
  the taps and within each tap over the output channels (one block of 16);
- AVX2 kernel: fma from the bias over the taps; input gradient: over blocks of 8 output channels,
  within a block over the taps, within a tap over the block's channels.

Which one oneDNN runs depends on the CPU (and on `ONEDNN_MAX_CPU_ISA`), so `accumulation_order`
finds it once per process and layer shape by running both candidates and `F.conv2d` on a small
random probe; when neither matches bit for bit, the layer takes `nn.Conv2d`'s path. Training and
encoding (weights that need gradients, or no input gradient) take `nn.Conv2d`'s own path, so
trained models and database codes cannot change.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from hashattack.models.cpu_kernels import conv_forward, conv_input_gradient
from hashattack.models.max_pool import pair

FORWARD_ORDERS = (False, True)    # bias added after the taps (oneDNN's AVX-512 kernel) or first (its AVX2 kernel)
GRADIENT_BLOCKS = (16, 8, 4, 1)   # output channels a block of the input gradient's accumulation holds
_ORDERS: dict[tuple, tuple[bool, int] | None] = {}
_PROBING = threading.Lock()


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


def accumulation_order(out_channels: int, k: int, padding: int, height: int, width: int) -> tuple[bool, int] | None:
    """(bias_first, gradient_block) of oneDNN's kernel for a one-channel convolution of this shape on this CPU,
    found once per process by comparing the candidates with `F.conv2d` on a random probe; None when no
    candidate gives the same bits (then `FastConv2d` takes `nn.Conv2d`'s path)."""
    key = (out_channels, k, padding, height, width)
    with _PROBING:
        if key not in _ORDERS:
            _ORDERS[key] = _probe(*key)
        return _ORDERS[key]


def _probe(out_channels: int, k: int, padding: int, height: int, width: int) -> tuple[bool, int] | None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, height, width, generator=generator)
    weight = torch.randn(out_channels, 1, k, k, generator=generator)
    bias = torch.randn(out_channels, generator=generator)
    with torch.enable_grad():
        probe = x.clone().requires_grad_(True)
        expected = F.conv2d(probe, weight, bias, padding=padding)
        grad = torch.randn(expected.shape, generator=generator)
        (expected_grad,) = torch.autograd.grad(expected, probe, grad)
    padded, kernel, offsets, (out_height, out_width) = kernel_inputs(x, weight, bias, padding)
    forward = None
    for bias_first in FORWARD_ORDERS:
        out = x.new_empty(len(x), out_channels, out_height, out_width)
        conv_forward(padded.numpy(), kernel.numpy(), offsets.numpy(), out.numpy(), bias_first)
        if torch.equal(out, expected.detach()):
            forward = bias_first
            break
    for block in GRADIENT_BLOCKS:
        if forward is not None and torch.equal(input_gradient(grad, kernel, padding, x.shape, block), expected_grad):
            return forward, block
    return None


def input_gradient(grad: torch.Tensor, kernel: torch.Tensor, padding: int, input_shape, block: int) -> torch.Tensor:
    """The one-channel input's gradient (B, 1, H, W) from the output's `grad` (B, O, H', W'), kernel (O, k, k)."""
    k = kernel.shape[1]
    _, _, height, width = input_shape
    padded = flat_padded(grad, height + k - 1, width + k - 1, k - 1 - padding, k)
    out = grad.new_empty(input_shape)
    conv_input_gradient(padded.numpy(), kernel.numpy(), out[:, 0].numpy(), block)
    return out


class _OneChannelConv(torch.autograd.Function):
    """Convolution of float32 (B, 1, H, W) with frozen weights (O, 1, k, k), stride 1, zero padding p < k."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int,
                order: tuple[bool, int]) -> torch.Tensor:
        padded, kernel, offsets, (height, width) = kernel_inputs(x, weight, bias, padding)
        out = x.new_empty(len(x), len(kernel), height, width)
        conv_forward(padded.numpy(), kernel.numpy(), offsets.numpy(), out.numpy(), order[0])
        ctx.save_for_backward(kernel)
        ctx.padding, ctx.input_shape, ctx.block = padding, x.shape, order[1]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (kernel,) = ctx.saved_tensors
        return input_gradient(grad.contiguous(), kernel, ctx.padding, ctx.input_shape, ctx.block), None, None, None, None


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

    def order(self, x: torch.Tensor) -> tuple[bool, int] | None:
        """oneDNN's order of accumulation for this layer on inputs like `x` (`accumulation_order`)."""
        return accumulation_order(self.out_channels, pair(self.kernel_size)[0], pair(self.padding)[0], x.shape[2], x.shape[3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        order = self.order(x) if self.fast(x) else None
        if order is None:
            return super().forward(x)
        return _OneChannelConv.apply(x, self.weight, self.bias, pair(self.padding)[0], order)
