"""A user's own hashing model: any `torch.nn.Module` returning K real values per input.

It is built by a factory named `package.module:function` (imported from the Python path, plus
any extra folders given), with weights from a state_dict file (`models.weights`, weights_only).
`AuditedModel` wraps it into the interface the attacks expect: pixels in [0, 1] in, pre-tanh
outputs f(x) out.

- If the model expects normalised input, give its `mean` / `std`: the wrapper normalises (and a
  normalised-space ε then means what it means in the official code).
- If the model ends with tanh (outputs in (-1, 1)), `output="tanh"` undoes it (atanh), so the
  attack's own tanh(α·f) sees the pre-tanh value; codes are unchanged (sign is kept). The
  default "raw" attacks the output as it is, which is right for any real-valued output.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from hashattack.errors import InputError
from hashattack.models.weights import load_into, load_state_dict

OUTPUTS = ("raw", "tanh")


class AuditedModel(nn.Module):
    """A user's module behind the hashing-model interface: pixels in [0, 1] -> pre-tanh f(x) (B, K)."""

    def __init__(self, net: nn.Module, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 output: str = "raw"):
        super().__init__()
        if output not in OUTPUTS:
            raise InputError(f"unknown model output {output!r}: choose 'raw' or 'tanh'")
        if (mean is None) != (std is None):
            raise InputError("give both mean and std (the model's input normalisation), or neither")
        self.net, self.output = net, output
        if mean is not None:
            if len(mean) != len(std) or any(s <= 0 for s in std):
                raise InputError(f"mean and std need one value per channel and std > 0, got {list(mean)} and {list(std)}")
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels - self.mean) / self.std if hasattr(self, "mean") else pixels
        y = self.net(x)
        if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[0] != pixels.shape[0]:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise InputError(f"the model must return a (batch, K) tensor of reals, got {shape} "
                             f"for a batch of {pixels.shape[0]}")
        if self.output == "tanh":
            y = torch.atanh(y.clamp(-1 + 1e-6, 1 - 1e-6))
        return y


def import_factory(spec: str, search_paths: Sequence[str | Path] = ()):
    """`package.module:function` -> the function, importing from `search_paths` first, then sys.path."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"model {spec!r} must look like package.module:factory, e.g. mymodels.hashnet:build")
    for folder in reversed([str(Path(p).resolve()) for p in search_paths]):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import {module_name!r} for --model {spec} ({exc}); "
                         f"add its folder with --model-path") from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise InputError(f"module {module_name!r} has no {attr!r} (from --model {spec})")
    if not callable(factory):
        raise InputError(f"{spec} is not callable: it must be a class or a function returning an nn.Module")
    return factory


def load_user_model(spec: str, weights: str | Path | None = None, kwargs: dict | None = None,
                    search_paths: Sequence[str | Path] = (), mean=None, std=None, output: str = "raw") -> AuditedModel:
    """Build the user's model with its factory, load its state_dict (weights_only) and wrap it."""
    net = import_factory(spec, search_paths)(**(kwargs or {}))
    if not isinstance(net, nn.Module):
        raise InputError(f"{spec} returned {type(net).__name__}, not a torch.nn.Module")
    if weights is not None:
        state = load_state_dict(weights)
        if isinstance(state.get("state_dict"), dict):   # {"state_dict": ..., "epoch": ...} as many scripts save
            state = state["state_dict"]
        load_into(net, state, weights, f"the model of {spec}")
    return AuditedModel(net, mean, std, output).eval()


@torch.no_grad()
def code_length(model: nn.Module, example: torch.Tensor) -> int:
    """K, from the model's output on one example (pixels in [0, 1], one object without batch dim)."""
    out = model(example.unsqueeze(0))
    if out.shape[1] < 1:
        raise InputError("the model returns 0 values per input; a hashing model returns K >= 1")
    if not torch.isfinite(out).all():
        raise InputError("the model returns NaN or inf for the first query")
    return int(out.shape[1])


__all__ = ["AuditedModel", "import_factory", "load_user_model", "code_length", "OUTPUTS"]
