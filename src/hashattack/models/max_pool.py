"""2x2 max pooling for CPUs, bit-identical to `nn.MaxPool2d(2)` and faster: `FastMaxPool2d`.

PyTorch's NCHW kernel (`max_pool2d_with_indices`) branches on every value and keeps an int64
index per window: it took 2.3 ms of a 10 ms DHTA step of the small CNN (50 queries, one thread).
Here numba kernels (`models.cpu_kernels`) keep each window's chosen position in one byte and
choose as PyTorch's CPU kernel does (`choose`: the first maximum in row-major order, or the last
NaN), so values and gradients are the same bits. A ReLU before the pooling can run inside the kernel (max(relu(a),
relu(b)) = relu(max(a, b)); the gradient is zero where the window's maximum is not positive, as
ReLU's backward gives it): `models.layers.run_layers` fuses it. Anything the kernel does not
compute (odd sizes, channels-last, CUDA, other windows or dtypes) takes `nn.MaxPool2d`'s own path.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from hashattack.models.cpu_kernels import pool_backward, pool_forward


def pair(value) -> tuple:
    """(value, value) for an int, the value as a tuple otherwise (as nn layers store sizes)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class MaxPool2x2(torch.autograd.Function):
    """2x2 max pooling with stride 2 (after a ReLU if `relu`) of a contiguous float NCHW CPU tensor, H and W even."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, relu: bool) -> torch.Tensor:
        batch, channels, height, width = x.shape
        out = x.new_empty(batch, channels, height // 2, width // 2)
        chosen = torch.empty(out.shape, dtype=torch.uint8)
        pool_forward(x.detach().numpy(), out.numpy(), chosen.numpy(), relu)
        ctx.save_for_backward(chosen)
        ctx.input_shape = x.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (chosen,) = ctx.saved_tensors
        out = grad.new_empty(ctx.input_shape)
        pool_backward(grad.contiguous().numpy(), chosen.numpy(), out.numpy())
        return out, None


class FastMaxPool2d(nn.MaxPool2d):
    """`nn.MaxPool2d`, with a faster exact path for 2x2 windows of stride 2 on contiguous NCHW CPU tensors."""

    def pools_2x2(self) -> bool:
        """2x2 windows with stride 2, no padding, dilation or ceil mode: what the kernel computes."""
        return (pair(self.kernel_size) == (2, 2) and pair(self.stride) == (2, 2) and pair(self.padding) == (0, 0)
                and pair(self.dilation) == (1, 1) and not self.ceil_mode and not self.return_indices)

    def fast(self, x: torch.Tensor) -> bool:
        return (x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64)
                and x.is_contiguous() and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 and self.pools_2x2())

    def fits(self, padding: int, kernel, x: torch.Tensor) -> bool:
        """Whether this pooling runs fused after a one-channel convolution of `x` (stride 1) with that padding."""
        k = pair(kernel)[0]
        return self.pools_2x2() and (x.shape[2] + 2 * padding - k + 1) % 2 == 0 and (x.shape[3] + 2 * padding - k + 1) % 2 == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return MaxPool2x2.apply(x, False) if self.fast(x) else super().forward(x)
