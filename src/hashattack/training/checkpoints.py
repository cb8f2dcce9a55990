"""Checkpoints: a `state_dict` file plus a JSON metadata file beside it, never a pickled model.

`save_checkpoint(path, model, meta)` writes `path` (tensors only) and `path.json` (the model's
config, the SHA-256 of the weights file, and whatever the caller adds: dataset, training
settings, metrics). `load_checkpoint` verifies the hash, loads with `weights_only=True`
(`models.weights`), and rebuilds the model through the registry.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from hashattack.errors import InputError
from hashattack.files import atomic_write_bytes, atomic_write_json
from hashattack.models import create_model
from hashattack.models.weights import load_into, load_state_dict, metadata_path, read_metadata, sha256_of


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict | None = None) -> Path:
    """Write the weights and their metadata atomically; return the weights path."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    record = {"format": "hashattack-checkpoint/1", "model": model.config(), "sha256": sha256_of(path), **(meta or {})}
    atomic_write_json(metadata_path(path), record)
    return path


def load_checkpoint(path: str | Path, architecture: str | None = None, bits: int | None = None,
                    map_location: str | torch.device = "cpu"):
    """Load a checkpoint -> (model in eval mode, metadata). Refuses a hash mismatch or a pickle payload.

    `architecture` / `bits`, when given, must match the checkpoint's.
    """
    meta = read_metadata(path)
    config = dict(meta["model"])
    name = config.pop("architecture", None)
    if architecture is not None and name != architecture:
        raise InputError(f"checkpoint {path} holds a {name!r} model, not {architecture!r}")
    if bits is not None and config.get("bits") != bits:
        raise InputError(f"checkpoint {path} has {config.get('bits')} bits, not {bits}")
    state = load_state_dict(path, meta["sha256"], map_location)
    check_fits(name, config, state, path)
    model = create_model(name, **config)
    load_into(model, state, path, f"a {name!r} model")
    return model.eval(), meta


def check_fits(name: str, config: dict, state: dict, path: str | Path) -> None:
    """Build the model of `config` on the meta device (no memory) and refuse, before the real one is
    allocated, a config whose model needs more values than the weights file holds (a size or width
    that its metadata inflates) or that cannot be built at all."""
    try:
        with torch.device("meta"):
            skeleton = create_model(name, **config)
    except InputError as exc:
        raise InputError(f"{metadata_path(path)}: {exc}") from None
    except (TypeError, ValueError, RuntimeError, OverflowError, MemoryError) as exc:
        raise InputError(f"{metadata_path(path)}: its model config cannot be built "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None
    needed = sum(t.numel() for t in skeleton.state_dict().values())
    held = sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor))
    if needed > held:
        raise InputError(f"{metadata_path(path)}: its model config describes {needed:,} weights, the weights file "
                         f"{Path(path).name} holds {held:,}; the metadata does not fit the file")


# sha256_of, metadata_path and read_metadata live in models.weights; imported from here by older callers.
__all__ = ["save_checkpoint", "load_checkpoint", "check_fits", "sha256_of", "metadata_path", "read_metadata"]
