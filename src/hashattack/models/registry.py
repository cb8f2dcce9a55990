"""Name -> model factory registry (configs name architectures, code never hard-wires them).

An entry also says what its factory takes besides `bits`, so the code that trains a model supplies
it without naming architectures: ImageNet weights (and the file they need), the images' shape, a
pretrained frame encoder. A new hashing model is its module (with `@register_model`) and one import
line in `models/__init__.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hashattack.errors import InputError


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: its factory `f(bits, **kwargs)` and the arguments it takes besides bits."""

    name: str
    factory: Callable
    imagenet_weights: Callable[[str | Path], Path] | None = None   # `weights` (file or folder) -> the ImageNet file
    weights_file: Callable[[], str] | None = None   # that file's name, looked up in torch hub's cache when no
    #                                                 weights are given (None: weights must be given)
    random_init: bool = False     # may start from random weights instead of ImageNet's
    input_shape: bool = False     # takes the images' `channels` and `size` (28x28 grey: its defaults)
    frame_encoder: bool = False   # takes a frame encoder pretrained on the dataset's frames


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, **takes) -> Callable:
    """Decorator: make a factory `f(bits, **kwargs) -> HashingModel` available as `name`; `takes`: the
    `ModelEntry` fields saying what else it takes (imagenet_weights, weights_file, random_init, ...)."""

    def wrap(factory: Callable) -> Callable:
        _REGISTRY[name] = ModelEntry(name, factory, **takes)
        return factory

    return wrap


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of architecture `name`."""
    if name not in _REGISTRY:
        raise InputError(f"unknown architecture {name!r}: choose one of {', '.join(available_models())}")
    return _REGISTRY[name]


def imagenet_models() -> list[str]:
    """The architectures that start from ImageNet weights (`--weights`)."""
    return [name for name in available_models() if _REGISTRY[name].imagenet_weights is not None]


def create_model(name: str, bits: int, **kwargs):
    """Build the registered model `name` with `bits` output bits."""
    entry = model_entry(name)
    if not isinstance(bits, int) or bits <= 0:
        raise InputError(f"bits must be a positive integer, got {bits!r}")
    return entry.factory(bits=bits, **kwargs)
