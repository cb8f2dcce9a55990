"""Encode a set of objects into binary codes with a hashing model, in batches, without gradients."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from hashattack.errors import InputError
from hashattack.models.inputs import model_inputs, slice_inputs
from hashattack.retrieval.codes import binarize
from hashattack.validation import check_not_empty, pixel_problem


@torch.no_grad()
def encode_set(model: torch.nn.Module, data, batch_size: int = 1000,
               device: str | torch.device = "cpu", progress: bool = True, desc: str = "encode",
               inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Codes sign(f(x)) in {-1, +1} (0 -> +1), float32 (n, K) on the CPU.

    `data` is a stored set (anything with `pixels(index)` and a length: a `data.LabeledSet`, a
    `VideoSet`) or a float tensor of pixels in [0, 1] (a model takes tensors, not datasets);
    `inputs` are the tensor's extra model inputs (`hashattack.models.inputs`, e.g. video lengths).
    An empty set, pixels that are not floats in [0, 1] (NaN, 0..255 bytes), or a model giving NaN /
    inf outputs (NaN weights), is a one-line `InputError`.
    """
    check_not_empty(len(data), "the set to encode")
    pixels = data.pixels if hasattr(data, "pixels") else data.__getitem__
    model.eval()
    chunks = []
    for start in tqdm(range(0, len(data), batch_size), desc=desc, unit="batch", disable=None if progress else True):
        index = slice(start, start + batch_size)
        extra = slice_inputs(inputs, index) if inputs else model_inputs(data, index)
        batch = pixels(index)
        if pixel_problem(batch) is not None:
            raise InputError(f"objects {start}..{start + len(batch) - 1} to encode are not float pixels in [0, 1] "
                             f"({batch.dtype}; NaN, inf and 0..255 values are refused: divide bytes by 255)")
        outputs = model(batch.to(device), **{k: v.to(device) for k, v in extra.items()})
        if not torch.isfinite(outputs).all():
            raise InputError(f"the model produced NaN or inf outputs for objects {start}..{start + len(outputs) - 1}")
        chunks.append(binarize(outputs).float().cpu())
    return torch.cat(chunks)
