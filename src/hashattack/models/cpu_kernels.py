"""The numba kernels of the small CNN's faster CPU layers (`models.max_pool`, `models.one_channel_conv`,
`models.layers`), in one file because numba's on-disk cache notices only edits to a kernel's own
file: kernels that call each other live together, so an edit recompiles all that use it.

Every kernel runs on the calling thread and releases the GIL (the sharded step loop of
`attacks.descent` runs one shard per thread); all are compiled on first use (about 2 s) and cached.
Pooling: `split_windows` puts each position of the 2x2 windows of a plane in a contiguous row and
`choose` picks each window's value and position with selects only (LLVM vectorises it), by the
rule of PyTorch's CPU kernel. Convolution: `shifted_sums` makes one long vectorised fma pass over
a flattened, zero-padded plane per tap and channel, in the order of accumulation that oneDNN's
kernel on this CPU uses (`models.one_channel_conv.accumulation_order` finds it).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic


NO_GRADIENT = 255   # a window whose gradient is zero: its maximum was clipped by a fused ReLU


@numba.njit(nogil=True, cache=True)
def split_windows(plane, corners, half_width):
    """corners[k, i * half_width + j] = plane[2i + k // 2, 2j + k % 2]: the four values of each 2x2 window of
    the first 2 * half_width columns of an (H, W) plane, each position in a contiguous row, so `choose`
    runs as long vector loops."""
    for i in range(plane.shape[0] // 2):
        top, bottom = plane[2 * i], plane[2 * i + 1]
        start = i * half_width
        for j in range(half_width):
            corners[0, start + j], corners[1, start + j] = top[2 * j], top[2 * j + 1]
            corners[2, start + j], corners[3, start + j] = bottom[2 * j], bottom[2 * j + 1]


@numba.njit(nogil=True, cache=True)
def choose(corners, out, chosen, relu):
    """out[t], chosen[t] = the maximum of window t's values corners[:, t] (of their ReLU if `relu`) and its
    position 0..3, by the rule of PyTorch's CPU kernel: scan the window in row-major order from -inf and
    take a value greater than the maximum so far, or any NaN (so the first maximum, or the last NaN).
    With `relu`, a window whose maximum is not positive gets NO_GRADIENT, as ReLU's backward gives it.
    Written with selects only, so LLVM vectorises it."""
    zero = corners.dtype.type(0)
    first, second, third, fourth = corners[0], corners[1], corners[2], corners[3]
    for t in range(len(out)):
        v0, v1, v2, v3 = first[t], second[t], third[t], fourth[t]
        if relu:
            v0 = v0 if (v0 > 0) | (v0 != v0) else zero
            v1 = v1 if (v1 > 0) | (v1 != v1) else zero
            v2 = v2 if (v2 > 0) | (v2 != v2) else zero
            v3 = v3 if (v3 > 0) | (v3 != v3) else zero
        take = (v1 > v0) | (v1 != v1)                    # v0 > -inf unless it is -inf: then it stays, as here
        best = v1 if take else v0
        where = np.int32(1) if take else np.int32(0)
        take = (v2 > best) | (v2 != v2)
        best = v2 if take else best
        where = np.int32(2) if take else where
        take = (v3 > best) | (v3 != v3)
        best = v3 if take else best
        where = np.int32(3) if take else where
        if relu:
            where = where if (best > 0) | (best != best) else np.int32(NO_GRADIENT)
        out[t] = best
        chosen[t] = where


@numba.njit(nogil=True, cache=True, inline="always")
def spread(top, bottom, j, where, g):
    """Write window j's gradient g at its chosen position of rows `top` / `bottom`, 0 at the other three."""
    top[2 * j] = g if where == 0 else 0.0
    top[2 * j + 1] = g if where == 1 else 0.0
    bottom[2 * j] = g if where == 2 else 0.0
    bottom[2 * j + 1] = g if where == 3 else 0.0


@numba.njit(nogil=True, cache=True)
def pool_forward(x, out, chosen, relu):
    """out = the maximum of each 2x2 window of x (B, C, H, W), chosen = its position (`choose`)."""
    batch, channels, height, width = x.shape
    windows = (height // 2) * (width // 2)
    corners = np.empty((4, windows), x.dtype)
    for b in range(batch):
        for c in range(channels):
            split_windows(x[b, c], corners, width // 2)
            choose(corners, out[b, c].reshape(windows), chosen[b, c].reshape(windows), relu)


@numba.njit(nogil=True, cache=True)
def pool_backward(grad, chosen, out):
    """out (B, C, H, W) = each window's gradient at its chosen position, 0 elsewhere (every value written)."""
    batch, channels, height, width = grad.shape
    for b in range(batch):
        for c in range(channels):
            for i in range(height):
                top, bottom = out[b, c, 2 * i], out[b, c, 2 * i + 1]
                row_grad, row_chosen = grad[b, c, i], chosen[b, c, i]
                for j in range(width):
                    spread(top, bottom, j, row_chosen[j], row_grad[j])


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma), as oneDNN's convolution kernels accumulate."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


@numba.njit(nogil=True, cache=True)
def shifted_sums(planes, weight, flipped, width, n, acc, start, block):
    """acc[:n] = start + the sum over channels o and taps (i, j) of the kernel of weight[o, i, j] * planes[o, offset + t]
    with offset = i * width + j (or (k-1-i) * width + (k-1-j) if `flipped`), accumulated with fma over
    blocks of `block` channels, within a block over the taps in row-major order, within a tap over the
    block's channels: one pass over a flat plane per tap and channel, so every loop is long and vectorises."""
    channels, k = weight.shape[0], weight.shape[1]
    for t in range(n):
        acc[t] = start
    for first in range(0, channels, block):
        for i in range(k):
            for j in range(k):
                offset = ((k - 1 - i) * width + (k - 1 - j)) if flipped else (i * width + j)
                for o in range(first, min(first + block, channels)):
                    source, w = planes[o, offset:offset + n], weight[o, i, j]
                    for t in range(n):   # indices from 0: no negative-index check, so LLVM vectorises
                        acc[t] = fma(source[t], w, acc[t])


@numba.njit(nogil=True, cache=True)
def conv_forward(padded, weight, bias, out, bias_first):
    """out (B, O, H, W) = the convolution of one-channel images, zero-padded and flattened row by row
    (`padded` (B, 1, (H + k - 1) * (W + k - 1) + k - 1)), with weight (O, k, k): per output value fma over
    the taps in row-major order, from bias[o] if `bias_first` (oneDNN's AVX2 kernel), else from 0 and
    then + bias[o] (its AVX-512 kernel)."""
    batch, channels, height, width = out.shape
    k = weight.shape[1]
    padded_width = width + k - 1
    n = height * padded_width
    acc = np.empty(n, weight.dtype)
    zero = weight.dtype.type(0)
    for b in range(batch):
        for o in range(channels):
            shifted_sums(padded[b], weight[o:o + 1], False, padded_width, n, acc, bias[o] if bias_first else zero, 1)
            offset = zero if bias_first else bias[o]
            for y in range(height):
                row, sums = out[b, o, y], acc[y * padded_width:y * padded_width + width]
                for x in range(width):
                    row[x] = sums[x] + offset if not bias_first else sums[x]


@numba.njit(nogil=True, cache=True)
def conv_input_gradient(padded_grad, weight, out, block):
    """out (B, H, W) = the gradient of the one-channel input of a stride-1 convolution with weight (O, k, k),
    from the gradient of its output zero-padded to (B, O, (H + k - 1) * (W + k - 1) + k - 1): per input
    value fma over blocks of `block` output channels, within a block over the taps in row-major order
    and within a tap over the block's channels (oneDNN's backward kernels: blocks of 8 on AVX2, 16 on AVX-512)."""
    batch, height, width = out.shape
    k = weight.shape[1]
    padded_width = width + k - 1
    n = height * padded_width
    acc = np.empty(n, weight.dtype)
    for b in range(batch):
        shifted_sums(padded_grad[b], weight, True, padded_width, n, acc, weight.dtype.type(0), block)
        for y in range(height):
            row, sums = out[b, y], acc[y * padded_width:y * padded_width + width]
            for x in range(width):
                row[x] = sums[x]


@numba.njit(nogil=True, cache=True)
def conv_relu_pool_forward(padded, weight, bias, out, chosen, bias_first):
    """`conv_forward`, ReLU and 2x2 max pooling of one-channel images in one pass per image: each output
    plane is pooled (`choose`) while it is in cache; only the pooled values and positions are written."""
    batch, channels, pooled_height, pooled_width = out.shape
    k = weight.shape[1]
    padded_width = 2 * pooled_width + k - 1
    n = 2 * pooled_height * padded_width
    windows = pooled_height * pooled_width
    acc = np.empty(n, weight.dtype)
    corners = np.empty((4, windows), weight.dtype)
    zero = weight.dtype.type(0)
    for b in range(batch):
        for o in range(channels):
            shifted_sums(padded[b], weight[o:o + 1], False, padded_width, n, acc, bias[o] if bias_first else zero, 1)
            if not bias_first:
                offset = bias[o]
                for t in range(n):
                    acc[t] += offset
            split_windows(acc.reshape(2 * pooled_height, padded_width), corners, pooled_width)
            choose(corners, out[b, o].reshape(windows), chosen[b, o].reshape(windows), True)


@numba.njit(nogil=True, cache=True)
def conv_relu_pool_backward(grad, chosen, weight, padding, out, block):
    """The input gradient through `conv_relu_pool_forward`: per image, the pooled gradient is spread
    (`spread`) into zero-bordered planes that stay in cache, then `shifted_sums` as `conv_input_gradient`."""
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
        shifted_sums(planes, weight, True, padded_width, n, acc, weight.dtype.type(0), block)
        for y in range(height):
            row, sums = out[b, y], acc[y * padded_width:y * padded_width + width]
            for x in range(width):
                row[x] = sums[x]
