"""A user's own hashing model: any `torch.nn.Module` returning K real values per input.

It is built by a factory named `package.module:function` or `path/to/file.py:function`, with
weights from a state_dict file (`models.weights`, weights_only). A file is imported by its path;
a module is looked up in the installed packages first and then in the extra folders given (the
working folder among them): a folder never comes ahead of the installed packages, and it is on
the search path only while the factory is imported and called, so a `matplotlib/` or `numpy/`
folder lying in the working folder is never imported in their place.
`AuditedModel` wraps it into the interface the attacks expect: pixels in [0, 1] in, pre-tanh
outputs f(x) out.

- If the model expects normalised input, give its `mean` / `std`: the wrapper normalises (and a
  normalised-space ε then means what it means in the official code).
- If the model ends with tanh (outputs in (-1, 1)), `output="tanh"` undoes it (atanh), so the
  attack's own tanh(α·f) sees the pre-tanh value; codes are unchanged (sign is kept). The
  default "raw" attacks the output as it is, which is right for any real-valued output.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from hashattack.errors import InputError
from hashattack.models.weights import load_into, load_state_dict
from hashattack.validation import check_choice

OUTPUTS = ("raw", "tanh")


class AuditedModel(nn.Module):
    """A user's module behind the hashing-model interface: pixels in [0, 1] -> pre-tanh f(x) (B, K)."""

    def __init__(self, net: nn.Module, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 output: str = "raw"):
        super().__init__()
        check_choice(output, OUTPUTS, "model output")
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


@contextmanager
def _searched_last(folders: Sequence[str | Path]):
    """`folders` appended to sys.path (after the installed packages) for the duration of the block."""
    added = [folder for folder in dict.fromkeys(str(Path(p).resolve()) for p in folders) if folder not in sys.path]
    sys.path.extend(added)
    try:
        yield
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)


def _one_line(exc: BaseException) -> str:
    """`Type: first line of the message`."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _import_file(path: Path, spec: str):
    """The module of a Python file, imported by its path under a name of its own (never a package's)."""
    if not path.is_file():
        raise InputError(f"model {spec}: {path} does not exist")
    name = f"hashattack_user_{path.stem}_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise InputError(f"model {spec}: {path} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _folders(spec: str, search_paths: Sequence[str | Path]) -> list:
    """Where the factory's module may import its own helpers from: a file's folder, or `search_paths`."""
    target = spec.rpartition(":")[0]
    return [Path(target).resolve().parent] if _is_file(target) else list(search_paths)


def import_factory(spec: str, search_paths: Sequence[str | Path] = ()):
    """`package.module:function` or `path/to/file.py:function` -> the function. A module is looked up in
    the installed packages first, then in `search_paths`; a file is imported by its path."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise InputError(f"model {spec!r} must look like package.module:factory or path/to/file.py:factory, "
                         "e.g. mymodels.hashnet:build")
    is_file = _is_file(target)
    try:
        with _searched_last(_folders(spec, search_paths)):
            module = _import_file(Path(target), spec) if is_file else importlib.import_module(target)
    except InputError:
        raise
    except ImportError as exc:
        raise InputError(f"cannot import {target!r} for --model {spec} ({exc}); "
                         f"give its file (path/to/file.py:factory) or add its folder with --model-path") from None
    except Exception as exc:   # the user's module failed while being imported
        raise InputError(f"importing {target} for --model {spec} failed: {_one_line(exc)}") from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise InputError(f"module {target!r} has no {attr!r} (from --model {spec})")
    if not callable(factory):
        raise InputError(f"{spec} is not callable: it must be a class or a function returning an nn.Module")
    return factory


def build_user_net(spec: str, kwargs: dict | None = None, search_paths: Sequence[str | Path] = ()) -> nn.Module:
    """The user's network: its factory called with `kwargs`; a factory that raises is one line naming it."""
    factory = import_factory(spec, search_paths)
    try:
        with _searched_last(_folders(spec, search_paths)):   # a factory may import its own helpers when called
            net = factory(**(kwargs or {}))
    except Exception as exc:
        raise InputError(f"the model factory {spec} raised {_one_line(exc)}") from None
    if not isinstance(net, nn.Module):
        raise InputError(f"{spec} returned {type(net).__name__}, not a torch.nn.Module")
    return net


def load_user_model(spec: str, weights: str | Path | None = None, kwargs: dict | None = None,
                    search_paths: Sequence[str | Path] = (), mean=None, std=None, output: str = "raw") -> AuditedModel:
    """Build the user's model with its factory, load its state_dict (weights_only) and wrap it."""
    net = build_user_net(spec, kwargs, search_paths)
    if weights is not None:
        state = load_state_dict(weights)
        if isinstance(state.get("state_dict"), dict):   # {"state_dict": ..., "epoch": ...} as many scripts save
            state = state["state_dict"]
        load_into(net, state, weights, f"the model of {spec}")
    return AuditedModel(net, mean, std, output).eval()


@torch.no_grad()
def code_length(model: nn.Module, example: torch.Tensor) -> int:
    """K, from the model's output on one example (pixels in [0, 1], one object without batch dim)."""
    try:
        out = model(example.unsqueeze(0))
    except InputError:
        raise
    except Exception as exc:   # a model built for other inputs (size, channels) fails on its first query
        raise InputError(f"the model fails on the data's inputs of shape {tuple(example.shape)}: {_one_line(exc)}") from None
    if out.shape[1] < 1:
        raise InputError("the model returns 0 values per input; a hashing model returns K >= 1")
    if not torch.isfinite(out).all():
        raise InputError("the model returns NaN or inf for the first query")
    return int(out.shape[1])


__all__ = ["AuditedModel", "import_factory", "build_user_net", "load_user_model", "code_length", "OUTPUTS"]
