"""Per-object model inputs beyond pixels (the frame counts of padded videos), kept with the pixels.

A set of variable-length videos stores them padded to one length T and says how many frames
of each are real. Code that feeds a set to a model (training, encoding, attacks) asks the set
for these extra inputs with `model_inputs(data, index)` and passes them as keyword arguments:
`model(pixels, **inputs)`. Image sets have none, so the same code serves both.

Attacks call `model(x)` with pixels only; `bind_inputs(model, inputs)` gives them a model with
one batch's extra inputs fixed.
"""

from __future__ import annotations

import torch
from torch import nn

from hashattack.models.calls import call_model, frozen


def model_inputs(data, index) -> dict[str, torch.Tensor]:
    """The extra inputs of the objects `index` of `data` ({} for images or plain pixel tensors)."""
    getter = getattr(data, "model_inputs", None)
    return getter(index) if callable(getter) else {}


@torch.no_grad()
def check_accepts(model: nn.Module, data, what: str) -> None:
    """One forward of `data`'s first object through `model` (on the model's device, in eval mode): a model
    made for other inputs (another image size or channel count) is one line naming `what` and the
    input's shape, before a training or a run starts, instead of a traceback half-way through."""
    index = torch.arange(1)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with torch.random.fork_rng(devices=[]):   # a training set's augmentation draws from it
        pixels = data.pixels(index).to(device)
    extra = {k: v.to(device) for k, v in model_inputs(data, index).items()}
    with frozen(model), torch.random.fork_rng(devices=[]):   # the global random state is left as it was
        call_model(model, pixels, what, **extra)


def slice_inputs(inputs: dict[str, torch.Tensor] | None, index) -> dict[str, torch.Tensor]:
    """The rows `index` of every extra input."""
    return {name: value[index] for name, value in (inputs or {}).items()}


class BoundInputs(nn.Module):
    """`model` with fixed extra inputs: forward(pixels) = model(pixels, **inputs).

    Exposes the model's `mean` / `std` buffers and `bits`, and `features` with the same inputs,
    so every attack (normalisation, ε per channel, the feature-based attack) works unchanged.
    """

    def __init__(self, model: nn.Module, inputs: dict[str, torch.Tensor]):
        super().__init__()
        self.model = model
        self.inputs = inputs

    @property
    def mean(self):
        return getattr(self.model, "mean", None)

    @property
    def std(self):
        return getattr(self.model, "std", None)

    @property
    def bits(self):
        return getattr(self.model, "bits", None)

    def _inputs(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: value.to(like.device) for name, value in self.inputs.items()}

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixels, **self._inputs(pixels))

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.features(pixels, **self._inputs(pixels))


def bind_inputs(model: nn.Module, inputs: dict[str, torch.Tensor] | None) -> nn.Module:
    """`model` itself when there are no extra inputs, else a `BoundInputs` wrapper."""
    return BoundInputs(model, inputs) if inputs else model
