"""Checkpoints: a `state_dict` file plus a JSON metadata file beside it, never a pickled model.

`save_checkpoint(path, model, meta)` writes `path` (tensors only) and `path.json` (the model's
config, the SHA-256 of the weights file, and whatever the caller adds: dataset, training
settings, metrics). `load_checkpoint` verifies the hash, loads with `weights_only=True`, and
rebuilds the model through the registry.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from hashattack.errors import InputError
from hashattack.files import atomic_write_bytes, atomic_write_json
from hashattack.models import create_model


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def metadata_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict | None = None) -> Path:
    """Write the weights and their metadata atomically; return the weights path."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    record = {"format": "hashattack-checkpoint/1", "model": model.config(), "sha256": sha256_of(path), **(meta or {})}
    atomic_write_json(metadata_path(path), record)
    return path


def read_metadata(path: str | Path) -> dict:
    """The JSON metadata of a checkpoint, with clear errors when it is missing or malformed."""
    meta_file = metadata_path(path)
    if not Path(path).is_file():
        raise InputError(f"checkpoint {path} does not exist")
    if not meta_file.is_file():
        raise InputError(f"checkpoint {path} has no metadata file {meta_file.name} beside it")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{meta_file}: malformed checkpoint metadata ({exc})") from None
    if not isinstance(meta, dict) or "model" not in meta or "sha256" not in meta:
        raise InputError(f"{meta_file}: checkpoint metadata lacks 'model' or 'sha256'")
    return meta


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
    actual = sha256_of(Path(path))
    if actual != meta["sha256"]:
        raise InputError(f"checkpoint {path}: SHA-256 {actual[:12]}… does not match its metadata ({meta['sha256'][:12]}…)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers
        raise InputError(f"checkpoint {path} is not a plain state_dict ({type(exc).__name__}); refusing to load it") from None
    model = create_model(name, **config)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"checkpoint {path} does not fit a {name!r} model: {str(exc).splitlines()[0]}") from None
    return model.eval(), meta
