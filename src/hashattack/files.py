"""Atomic file writes, so a killed run never leaves a half-written result behind, and strict JSON.

Every JSON file hashattack writes is strict JSON (no bare `NaN` or `Infinity`): a value that is not
a finite number is written as `null`. Where that happens it is documented with the field (a PSNR of
`null` means the two images are identical, i.e. an infinite PSNR; a mean over no queries is `null`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file: write, fsync, rename, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:   # name the file meant, not the temporary one
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entry list, so a rename survives a power cut (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def finite_or_null(obj: Any) -> Any:
    """`obj` with every float that is not finite (NaN, ±inf) replaced by None, in lists, tuples and dicts."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_or_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(value) for value in obj]
    return obj


def strict_json(obj: Any, **options) -> str:
    """`json.dumps` of `obj` as strict JSON: non-finite floats become null (`finite_or_null`), and
    `allow_nan=False` guards that nothing else slips through."""
    return json.dumps(finite_or_null(obj), allow_nan=False, **options)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented, key-sorted strict JSON atomically (byte-identical for equal objects)."""
    atomic_write_text(path, strict_json(obj, indent=2, sort_keys=True) + "\n")
