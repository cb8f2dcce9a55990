"""Name -> model factory registry (configs name architectures, code never hard-wires them)."""

from __future__ import annotations

from typing import Callable

from hashattack.errors import InputError

_REGISTRY: dict[str, Callable] = {}


def register_model(name: str) -> Callable:
    """Decorator: make a factory `f(bits, **kwargs) -> HashingModel` available as `name`."""

    def wrap(factory: Callable) -> Callable:
        _REGISTRY[name] = factory
        return factory

    return wrap


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, bits: int, **kwargs):
    """Build the registered model `name` with `bits` output bits."""
    if name not in _REGISTRY:
        raise InputError(f"unknown architecture {name!r}: choose one of {', '.join(available_models())}")
    if not isinstance(bits, int) or bits <= 0:
        raise InputError(f"bits must be a positive integer, got {bits!r}")
    return _REGISTRY[name](bits=bits, **kwargs)
