"""What makes a batch file usable: sealed to its run, checked in full before it is reused.

A batch record (`batches/<method>-<batch>.json`) carries `run_sha256`, the SHA-256 of the run's
settings fingerprint (`fingerprint_sha256` in run.json), and `sha256`, the SHA-256 of the record's
own canonical JSON without that field. The kept adversarial pixels of the batch
(`<method>-<batch>.examples.npy`) are tied to it by `examples_sha256`, the SHA-256 of the .npy
file's bytes. `problem` says why a file on disk cannot be used (another run's, changed, damaged,
truncated, not a regular file, invalid codes, examples that do not match); the run folder then
attacks that batch again and prints a one-line notice, so one bad file never costs the others.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.protocol.fingerprint import digest
from hashattack.retrieval.codes import codes_from_hex
from hashattack.run_format import BATCH_FORMAT
from hashattack.validation import pixel_problem, read_json


def seal(record: dict, run_sha256: str) -> dict:
    """`record` bound to the run (`run_sha256`) and closed by the checksum of its content (`sha256`)."""
    sealed = {key: value for key, value in record.items() if key != "sha256"} | {"run_sha256": run_sha256}
    return sealed | {"sha256": digest(sealed)}


def notice(path: Path, why: str) -> None:
    """One line on stderr: a batch file that is not used, and why."""
    print(f"hashattack: notice: {path}: {why}; attacking this batch again", file=sys.stderr)


def remove(path: Path) -> None:
    """Remove whatever lies at `path` (a file, a link, a folder) so a fresh file can take its name."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def read_record(path: Path) -> dict | str:
    """The JSON object in batch file `path`, or why it cannot be read as one."""
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    try:
        record = read_json(path, "batch file")
    except InputError as exc:
        return f"unreadable or truncated ({str(exc).removeprefix(f'{path}: ')[:80]})"
    return record if isinstance(record, dict) else "not a JSON object"


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


def problem(record: dict, run_sha256: str, method: str, index: int, query_ids: list[int]) -> str | None:
    """Why `record` is not the finished batch `index` of `method` on `query_ids` in this run (None: it is)."""
    if record.get("format") != BATCH_FORMAT:
        return f"format {str(record.get('format'))[:40]!r}, expected {BATCH_FORMAT!r}"
    if record.get("sha256") != digest({k: v for k, v in record.items() if k != "sha256"}):
        return "its checksum does not match its content (changed or damaged)"
    if record.get("run_sha256") != run_sha256:
        return "written by a run with other settings (its run_sha256 is not this run's fingerprint)"
    if record.get("method") != method or record.get("batch") != index or record.get("query_ids") != query_ids:
        return f"not batch {index} of {method} on this run's queries"
    codes, sizes, bits = record.get("codes"), record.get("perceptibility"), record.get("bits")
    if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1:
        return "bits is not a positive integer"
    if not isinstance(codes, list) or len(codes) != len(query_ids):
        return f"codes is not a list of {len(query_ids)} hex codes"
    try:
        codes_from_hex(codes, bits)
    except InputError as exc:
        return f"invalid codes ({exc})"
    if not isinstance(sizes, dict) or not all(isinstance(v, list) and len(v) == len(query_ids)
                                              and all(_is_number(x) for x in v) for v in sizes.values()):
        return "perceptibility is not one number per query"
    if not _is_number(record.get("seconds")) or record.get("seconds") is None:
        return "seconds is not a number"
    return None


def examples_bytes(pixels: torch.Tensor) -> bytes:
    """The .npy bytes (float32) of a batch's kept adversarial pixels."""
    buffer = io.BytesIO()
    np.save(buffer, pixels.detach().to(torch.float32).cpu().numpy(), allow_pickle=False)
    return buffer.getvalue()


def check_pixels(pixels: torch.Tensor | None, shape: tuple[int, ...]) -> str | None:
    """Why `pixels` are not float32 pixels in [0, 1] of `shape` (None: they are)."""
    if pixels is None:
        return "missing"
    if tuple(pixels.shape) != tuple(shape) or pixels.dtype != torch.float32:
        return f"not float32 pixels of shape {tuple(shape)}"
    if pixel_problem(pixels) is not None:
        return "pixels outside [0, 1]"
    return None


def read_examples(path: Path, shape: tuple[int, ...], sha256: str | None = None) -> torch.Tensor | str:
    """The kept pixels in `path` (checked against `sha256` when given, and `shape`), or why they are not usable."""
    if path.is_symlink() or not path.is_file():
        return f"its examples file {path.name} is missing or not a regular file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"its examples file {path.name} is unreadable ({exc.strerror})"
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        return f"its examples file {path.name} does not match the batch (examples_sha256)"
    try:
        buffer = io.BytesIO(data)
        version = np.lib.format.read_magic(buffer)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        stored_shape = read_header(buffer)[0]
        if tuple(stored_shape) != tuple(shape):   # checked before numpy allocates what the header claims
            return f"its examples file {path.name}: not float32 pixels of shape {tuple(shape)}"
        pixels = torch.from_numpy(np.array(np.load(io.BytesIO(data), allow_pickle=False)))
    except (OSError, ValueError, EOFError, MemoryError) as exc:
        return f"its examples file {path.name} is malformed ({str(exc)[:60]})"
    why = check_pixels(pixels, shape)
    return pixels if why is None else f"its examples file {path.name}: {why}"


__all__ = ["BATCH_FORMAT", "seal", "notice", "remove", "read_record", "problem", "examples_bytes", "check_pixels",
           "read_examples"]
