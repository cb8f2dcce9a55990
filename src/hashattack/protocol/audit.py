"""Audit one's own hashing model: how far DHTA can steer its retrieval, at several ε.

The model is any `torch.nn.Module` returning K real values per input, built by a factory named
`package.module:function` (imported from the Python path, plus any extra folders given), with
weights from a `state_dict` file loaded with `weights_only=True`. `AuditedModel` wraps it into
the interface the attacks expect: pixels in [0, 1] in, pre-tanh outputs f(x) out.

- If the model expects normalised input, give its `mean` / `std`: the wrapper normalises (and a
  normalised-space ε then means what it means in the official code).
- If the model ends with tanh (outputs in (-1, 1)), `output="tanh"` undoes it (atanh), so the
  attack's own tanh(α·f) sees the pre-tanh value; codes are unchanged (sign is kept). The
  default "raw" attacks the output as it is, which is right for any real-valued output.

`run_audit` runs the paper's protocol (Original, Noise, P2P, DHTA; one manifest) once per ε into
`<out>/eps-<ε>/` and writes the report with t-MAP against ε.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from hashattack.data.base import RetrievalDataset
from hashattack.errors import InputError

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
        weights = Path(weights)
        if not weights.is_file():
            raise InputError(f"weights file {weights} does not exist")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses anything but tensors and plain containers
            raise InputError(f"{weights} is not a plain state_dict ({type(exc).__name__}); refusing to load it") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise InputError(f"{weights} holds a {type(state).__name__}, not a state_dict")
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError) as exc:
            raise InputError(f"{weights} does not fit the model of {spec}: {str(exc).splitlines()[0]}") from None
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


def run_audit(model: nn.Module, dataset: RetrievalDataset, eps_values: Sequence[float], out_dir: str | Path,
              base_settings, num_queries: int = 100, seed: int = 0, model_meta: dict | None = None,
              device: str = "cpu", progress: bool = True, force: bool = False) -> list[dict]:
    """Run every method at each ε on the same queries and targets; returns the run records.

    Writes `<out_dir>/eps-<ε>/` per ε (results, tables, figures) and `<out_dir>/report.html` / `.md`.
    """
    from dataclasses import replace

    from hashattack.protocol.engine import plan, run_experiment
    from hashattack.reporting.report import write_report

    if not eps_values:
        raise InputError("give at least one eps to audit")
    out_dir = Path(out_dir)
    bits = code_length(model.to(device).eval(), dataset.query.pixels(slice(0, 1))[0].to(device))
    num_queries = min(num_queries, len(dataset.query))
    manifest = plan(dataset, num_queries, base_settings.n_t, seed)
    records = []
    for eps in eps_values:
        settings = replace(base_settings, eps=float(eps))
        records.append(run_experiment(dataset, bits, settings, out_dir / f"eps-{eps}", seed=seed,
                                      architecture=(model_meta or {}).get("source", "user model"), manifest=manifest,
                                      device=device, progress=progress, force=force, model=model,
                                      model_meta=model_meta))
    write_report(out_dir)
    return records


__all__ = ["AuditedModel", "import_factory", "load_user_model", "code_length", "run_audit"]
