"""Weight files: find them (a file, or torchvision's cache folder) and load them safely.

Nothing can be downloaded here, so a missing file is an error that names it. Every load is
`torch.load(..., weights_only=True)` of a plain state_dict (tensors in dicts, never a pickled
object), and every mistake (unreadable, pickled, a hash mismatch, keys or shapes that do not
fit) is one line naming the file. A checkpoint is such a file plus `<file>.json` beside it
holding the file's SHA-256 and the model's config (written by `training.checkpoints`).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from hashattack.errors import InputError
from hashattack.validation import MAX_CHECKPOINT_BYTES, MAX_CHECKPOINT_TENSORS, MAX_INFLATION, read_json

CACHE_LAYOUTS = (".", "hub/checkpoints", "checkpoints")   # torchvision's cache folder and its parents


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


METADATA_FIELDS = {   # optional metadata fields that are read back: key -> (check, what it must be)
    "train_data": (lambda v: isinstance(v, dict), "an object"),
    "train_seconds": (lambda v: v is None or _number(v), "a number"),
    "loss_history": (lambda v: isinstance(v, list) and all(_number(x) for x in v), "a list of numbers"),
}


def torchvision_file_name(weights_enum: str) -> str:
    """torchvision's file name of a model's ImageNet weights, e.g. "VGG11_Weights" -> vgg11-8a719046.pth."""
    import torchvision.models as tvm

    return Path(getattr(tvm, weights_enum).IMAGENET1K_V1.url).name


def find_weights(weights: str | Path, file_name: str, what: str) -> Path:
    """`weights` itself when it is a file, else `file_name` inside that folder or its torchvision
    cache sub-folders (hub/checkpoints/, checkpoints/); `what` names the weights in errors."""
    weights = Path(weights).expanduser()
    if weights.is_file():
        return weights
    if not weights.is_dir():
        raise InputError(f"{what} not found: {weights} does not exist (give torchvision's {file_name} or a folder "
                         "holding it; it cannot be downloaded here)")
    for folder in CACHE_LAYOUTS:
        if (weights / folder / file_name).is_file():
            return weights / folder / file_name
    raise InputError(f"{weights} holds no {what}: expected {file_name} in it or in its hub/checkpoints/ or "
                     "checkpoints/ (torchvision's cache layout); no download is possible, copy the file there")


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def metadata_path(path: str | Path) -> Path:
    """The JSON metadata file beside a checkpoint: `<file>.json`."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_metadata(path: str | Path) -> dict:
    """The JSON metadata of a checkpoint, with clear errors when it is missing or malformed."""
    meta_file = metadata_path(path)
    if not Path(path).is_file():
        raise InputError(f"checkpoint {path} does not exist")
    if not meta_file.is_file():
        raise InputError(f"checkpoint {path} has no metadata file {meta_file.name} beside it")
    meta = read_json(meta_file, "checkpoint metadata")
    if not isinstance(meta, dict) or "model" not in meta or "sha256" not in meta:
        raise InputError(f"{meta_file}: checkpoint metadata lacks 'model' or 'sha256'")
    if not isinstance(meta["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", meta["sha256"]):
        raise InputError(f"{meta_file}: malformed checkpoint metadata (sha256 is not 64 hex digits)")
    model = meta["model"]
    if not isinstance(model, dict) or not isinstance(model.get("architecture"), str):
        raise InputError(f"{meta_file}: malformed checkpoint metadata ('model' is not an object naming its architecture)")
    for key, (fits, kind) in METADATA_FIELDS.items():
        if key in meta and not fits(meta[key]):
            raise InputError(f"{meta_file}: malformed checkpoint metadata ({key} is {str(meta[key])[:40]!r}, not {kind})")
    return meta


def check_weights_file(path: Path) -> None:
    """Refuse a weights file larger than MAX_CHECKPOINT_BYTES, or a zip (torch.save's format) of more than
    MAX_CHECKPOINT_TENSORS entries or whose entries inflate to more than MAX_INFLATION times its size."""
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise InputError(f"{path}: weights file of {size:,} bytes is larger than the limit of {MAX_CHECKPOINT_BYTES:,}")
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path} is not a plain state_dict ({type(exc).__name__}); refusing to load it") from None
    if len(entries) > MAX_CHECKPOINT_TENSORS:
        raise InputError(f"{path}: weights file of {len(entries):,} entries, more than the limit of "
                         f"{MAX_CHECKPOINT_TENSORS:,}; refusing to load it")
    inflated = sum(entry.file_size for entry in entries)
    if inflated > min(MAX_INFLATION * size + (1 << 20), MAX_CHECKPOINT_BYTES):
        raise InputError(f"{path}: weights file of {size:,} bytes inflates to {inflated:,} (at most "
                         f"{MAX_INFLATION} times its size); refusing to load it")


def load_state_dict(path: str | Path, sha256: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """A state_dict file loaded with weights_only=True; `sha256`, when given, must match the file's."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file {path} does not exist")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise InputError(f"{path}: SHA-256 {actual[:12]}… does not match its metadata ({sha256[:12]}…)")
    check_weights_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers
        raise InputError(f"{path} is not a plain state_dict ({type(exc).__name__}); refusing to load it") from None
    if not isinstance(state, dict):
        raise InputError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return state


def load_into(module: nn.Module, state: dict, path: str | Path, what: str, assign: bool = False) -> None:
    """`module.load_state_dict(state)` (strict), its mismatch as one line: `path does not fit what: …`."""
    expected, given = set(module.state_dict()), set(state)
    if given and expected and all(str(k).startswith("module.") for k in given) and \
            not any(k.startswith("module.") for k in expected):
        raise InputError(f"{path} does not fit {what}: its keys start with \"module.\" (saved from DataParallel/DDP); "
                         "strip the prefix: torch.save({k.removeprefix('module.'): v for k, v in state.items()}, file)")
    try:
        module.load_state_dict(state, assign=assign)
    except (RuntimeError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        details = lines[1:] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines
        detail = "; ".join(line if len(line) <= 300 else line[:300] + "…" for line in details)
        raise InputError(f"{path} does not fit {what}: {detail}") from None


__all__ = ["torchvision_file_name", "find_weights", "sha256_of", "metadata_path", "read_metadata", "check_weights_file",
           "load_state_dict", "load_into"]
