"""Encode a set of objects into binary codes with a hashing model, in batches, without gradients."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from hashattack.errors import InputError
from hashattack.models.calls import (call_model, check_model, check_model_device, checked_outputs, frozen,
                                     working_dtype)
from hashattack.models.inputs import model_inputs, slice_inputs
from hashattack.retrieval.codes import binarize, positive_int
from hashattack.validation import check_device, check_not_empty, pixel_problem


def check_extra_inputs(inputs, count: int) -> dict[str, torch.Tensor]:
    """Extra model inputs: a dict of tensors with one row per object, or a one-line InputError."""
    if not isinstance(inputs, dict) or not all(isinstance(v, torch.Tensor) and v.dim() and len(v) == count
                                               for v in inputs.values()):
        raise InputError(f"inputs must be a dict of tensors with one row per object ({count}), e.g. "
                         "{'lengths': frame counts (N,)}")
    return inputs


@torch.no_grad()
def encode_set(model: torch.nn.Module, data, batch_size: int = 1000,
               device: str | torch.device = "cpu", progress: bool = True, desc: str = "encode",
               inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Codes sign(f(x)) in {-1, +1} (0 -> +1), float32 (n, K) on the CPU.

    `data` is a stored set (anything with `pixels(index)` and a length: a `data.LabeledSet`, a
    `VideoSet`) or a float tensor (n, C, ...) of pixels in [0, 1] (a model takes tensors, not
    datasets, numpy arrays or lists: give `torch.as_tensor(array)`); float64 or float16 pixels are
    cast to the model's dtype. `inputs` are the tensor's extra model inputs
    (`hashattack.models.inputs`, e.g. video lengths). The model runs in eval mode, and its own mode
    and requires_grad flags are restored after (`models.calls.frozen`). A model that is not an
    `nn.Module` or returns anything but a float tensor (n, K) of finite values (a tuple, a dict,
    (n, K, 1), integers, another number of rows; NaN weights), an empty set, pixels that are not
    floats in [0, 1] (NaN, 0..255 bytes), a batch_size that is not a positive integer, an unknown
    device or a model whose weights are on another device is a one-line `InputError`.
    """
    check_model(model)
    batch_size = positive_int(batch_size, "batch_size")
    device = check_device(str(device))
    check_model_device(model, device)
    if not hasattr(data, "pixels") and not (isinstance(data, torch.Tensor) and data.dim() >= 2):
        got = f"a tensor of shape {tuple(data.shape)}" if isinstance(data, torch.Tensor) else type(data).__name__
        raise InputError(f"the set to encode must be a float tensor (n, C, H, W) of pixels in [0, 1] or a stored set, "
                         f"got {got}")
    check_not_empty(len(data), "the set to encode")
    if inputs:
        check_extra_inputs(inputs, len(data))
    pixels = data.pixels if hasattr(data, "pixels") else data.__getitem__
    chunks = []
    with frozen(model):
        for start in tqdm(range(0, len(data), batch_size), desc=desc, unit="batch", disable=None if progress else True):
            index = slice(start, start + batch_size)
            extra = slice_inputs(inputs, index) if inputs else model_inputs(data, index)
            batch = pixels(index)
            objects = f"objects {start}..{start + len(batch) - 1}"
            if pixel_problem(batch) is not None:
                raise InputError(f"{objects} to encode are not float pixels in [0, 1] ({batch.dtype}; NaN, inf and "
                                 "0..255 values are refused: divide bytes by 255)")
            batch = batch.to(device, working_dtype(model, batch))
            outputs = call_model(model, batch, "the model", **{k: v.to(device) for k, v in extra.items()})
            chunks.append(binarize(checked_outputs(outputs, len(batch), objects)).float().cpu())
    return torch.cat(chunks)
