"""How library code calls a user's hashing model, and what it accepts back.

`frozen(model)`: eval mode and no weight gradients for the duration, the model's own mode and
requires_grad flags restored after (encoding and every attack run inside it); `check_model`: a
`torch.nn.Module`, not a function or None; `check_model_device`: its weights on the inputs'
device; `working_dtype`: the dtype the model computes in;
`call_model`: one forward, a model made for other inputs (another image size, a keyword it does
not take) is one line naming the input shape; `checked_outputs`: the outputs must be one float
tensor (rows, K) of finite values, one row per object (not a tuple, a dict, (rows, K, 1), integers).
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Callable, Iterator

import torch
from torch import nn

from hashattack.errors import InputError


def check_model(model, what: str = "model") -> nn.Module:
    """`model` itself when it is a `torch.nn.Module`, else a one-line `InputError`."""
    if not isinstance(model, nn.Module):
        raise InputError(f"{what} must be a torch.nn.Module taking pixels (B, C, H, W) to real outputs (B, K), "
                         f"got {type(model).__name__}")
    return model


def check_model_device(model: nn.Module, device: str | torch.device) -> None:
    """Refuse a model whose weights live on another device than `device` (the inputs'): it is not moved for
    the caller, whose model would come back elsewhere."""
    wanted = torch.device(device)
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        here = tensor.device
        if here.type != wanted.type or wanted.index is not None and here.index != wanted.index:
            raise InputError(f"the model's weights are on {here} but the inputs go to {wanted}; move the model "
                             f"first (model.to({str(wanted)!r})) or pass device={str(here)!r}")
        return


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and requires_grad=False on every parameter for the duration; restores both after."""
    was_training = [(module, module.training) for module in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for module, training in was_training:
            module.training = training


def working_dtype(model: nn.Module, images: torch.Tensor) -> torch.dtype:
    """The dtype of `model`'s first floating parameter or buffer, else of `images` (float32 for integer images)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return images.dtype if images.is_floating_point() else torch.float32


def call_model(fn: Callable, pixels: torch.Tensor, what: str = "the model", **inputs) -> object:
    """`fn(pixels, **inputs)`; an exception inside it becomes one line naming the inputs' shape and its first line."""
    try:
        return fn(pixels, **inputs)
    except InputError:
        raise
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        raise InputError(f"{what} does not accept this data's inputs of shape {tuple(pixels.shape[1:])} ({detail})") from None


def checked_outputs(outputs, rows: int, what: str, model: str = "the model") -> torch.Tensor:
    """`outputs` of `model` on `rows` objects (`what` names them), refused unless a float tensor (rows, K) of
    finite values with K >= 1."""
    if not isinstance(outputs, torch.Tensor):
        raise InputError(f"{model} returned a {type(outputs).__name__} for {what}; it must return one tensor "
                         f"({rows}, K) of real values (the hash layer's outputs alone)")
    if not outputs.is_floating_point():
        raise InputError(f"{model} returned {outputs.dtype} values for {what}; it must return real (floating "
                         "point) values, the hash layer's outputs before the sign")
    if outputs.dim() != 2 or len(outputs) != rows or outputs.shape[1] < 1:
        raise InputError(f"{model} returned outputs of shape {tuple(outputs.shape)} for {what}; it must return "
                         f"({rows}, K), one row of K >= 1 values per object")
    if not bool(torch.isfinite(outputs).all()):
        raise InputError(f"{model} produced NaN or inf outputs for {what}")
    return outputs


__all__ = ["check_model", "check_model_device", "frozen", "working_dtype", "call_model", "checked_outputs"]
