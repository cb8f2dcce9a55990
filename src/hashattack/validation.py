"""Checks of user input shared by loaders, the experiment and the commands.

Each check raises `InputError` with one line that names the file, line or value at fault and
says what would be right, so the CLI can print it and exit 2. Loaders of new formats (list
files, image folders, videos, configs) call these instead of writing their own
messages, so every part of the tool words the same mistake the same way. List files have their
own reader, `data.list_files`.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from hashattack.errors import InputError

Array = np.ndarray | torch.Tensor
MAX_SEED = 2 ** 32 - 1          # every generator used (numpy, torch, random) takes 0 .. 2**32 - 1
DEVICE_TYPES = ("cpu", "cuda", "mps")
EPS_SPACES = ("pixel", "normalized")   # ε in [0, 1] pixel units, or after the model's (x - mean) / std (attacks.base)

# Bounds on what a file or an option may ask for, so a small hostile input cannot make unbounded work;
# each is refused on one line that names the file or option and the limit.
MAX_FILE_BYTES = 64 << 20         # a JSON, TOML or text file read whole (configs, manifests, list files, records)
MAX_JSON_DEPTH = 64               # nesting of arrays/objects in a JSON or TOML file (hashattack's own: < 8)
MAX_INT64 = 2 ** 63 - 1           # ids and seeds stored in files
MAX_CLASSES = 100_000             # classes of a dataset, a manifest, a list file
MAX_LABEL_CELLS = 1 << 28         # objects x classes of one label matrix (256 MiB of uint8)
MAX_BITS = 4096                   # code length
MAX_STEPS = 100_000               # attack / training-attack steps
MAX_EPOCHS = 10_000
MAX_QUERIES = 1_000_000
MAX_BATCH = 100_000               # queries or images per batch
MAX_N_T = 100_000                 # objects voted into an anchor code
MAX_CLIP_FRAMES = 1000            # frames of one generated video clip
MAX_IMAGE_SIDE = 8192             # --size, --width, --height
MAX_COUNT = 10_000_000            # any other count given on the command line
MAX_SWEEP_POINTS = 100_000        # runs of one sweep
MAX_PIXELS = 64_000_000           # width x height of the largest image decoded (8000x8000)
MAX_FRAME_PIXELS = 2048 * 2048    # width x height of a video frame decoded
MAX_CHECKPOINT_BYTES = 4 << 30    # a weights file, and what its entries hold once decompressed
MAX_CHECKPOINT_TENSORS = 100_000  # entries of a weights file
MAX_ARRAY_BYTES = 4 << 30         # a .npy array read (stored database codes and labels)
MAX_INFLATION = 4                 # what a weights file's entries hold decompressed, over the file's size


def at(source: str | Path, line: int | None = None) -> str:
    """`file` or `file, line N` (1-based), the prefix of every message about a file."""
    return f"{source}, line {line}" if line is not None else str(source)


def line_error(source: str | Path, line: int | None, message: str) -> InputError:
    """An InputError about one line of a text file: `file, line N: message`."""
    return InputError(f"{at(source, line)}: {message}")


def read_bytes(path: str | Path, what: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file `path` of at most `limit` bytes; a folder, device or FIFO (opened
    without blocking) is refused, as is a larger file, each on one line naming `what` and the file.
    `limit` defaults to MAX_FILE_BYTES."""
    path, limit = Path(path), MAX_FILE_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        mode, size = os.fstat(fd).st_mode, os.fstat(fd).st_size
        if stat.S_ISDIR(mode):
            raise InputError(f"{what} {path} is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise InputError(f"{what} {path} is not a regular file (a device, FIFO or socket); give a file")
        if size > limit:
            raise InputError(f"{path}: {what} of {size:,} bytes is larger than the limit of {limit:,} bytes")
        chunks, total = [], 0
        while total <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - total))):
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise InputError(f"{path}: {what} is larger than the limit of {limit:,} bytes")
    return data


def read_text(path: str | Path, what: str, limit: int | None = None) -> str:
    """`read_bytes` decoded as UTF-8 (a leading byte-order mark skipped)."""
    try:
        return read_bytes(path, what, limit).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read {what} (not UTF-8 text: {exc.reason} at byte {exc.start})") from None


def nesting_depth(value: Any) -> int:
    """How deep lists and dicts nest in `value` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_text(kind: str, text: str, source: str | Path, what: str) -> Any:
    """`text` parsed as `kind` ("json" or "toml"), its nesting bounded; a failure (malformed, nested too
    deep, an integer of too many digits) is one InputError: `source: malformed what (...)`."""
    try:
        value = json.loads(text) if kind == "json" else tomllib.loads(text)
    except RecursionError:
        raise InputError(f"{source}: malformed {what} (nested deeper than {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:   # json.JSONDecodeError, tomllib.TOMLDecodeError, an integer of too many digits
        raise InputError(f"{source}: malformed {what} ({' '.join(str(exc).split())[:200]})") from None
    if nesting_depth(value) > MAX_JSON_DEPTH:
        raise InputError(f"{source}: malformed {what} (nested deeper than {MAX_JSON_DEPTH} levels)")
    return value


def read_json(path: str | Path, what: str, limit: int | None = None) -> Any:
    """The JSON value in the regular file `path` (`read_text`), its size and nesting bounded; every
    failure is one InputError naming the file: `path: malformed what (...)`."""
    return parse_text("json", read_text(path, what, limit), path, what)


def read_toml(path: str | Path, what: str, limit: int | None = None) -> dict:
    """The TOML table in the regular file `path`, bounded and reported as `read_json`."""
    return parse_text("toml", read_text(path, what, limit), path, what)


def check_count(value, what: str, limit: int, low: int = 0) -> int:
    """An integer from `low` to `limit` read from a file (not a bool, not 1.5, not "7")."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= limit:
        shown = repr(value) if isinstance(value, str) else str(value)
        raise InputError(f"{what} must be an integer from {low} to {limit:,}, got {shown[:40]}")
    return int(value)


def _numpy(values: Array) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def choices_text(choices: Sequence) -> str:
    """The choices of an option as a message says them: 'a' or 'b'; 'a', 'b' or 'c'."""
    quoted = [repr(choice) for choice in choices]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


def check_choice(value, choices: Sequence, what: str):
    """`value` when it is one of `choices`; else one line naming it and the choices (built from the list)."""
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}: choose {choices_text(choices)}")
    return value


def check_seed(value, what: str = "seed") -> int:
    """A seed: an integer from 0 to MAX_SEED (not a bool, not 1.7, which would silently become 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{what} must be an integer from 0 to {MAX_SEED}, got {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise InputError(f"{what} must be an integer from 0 to {MAX_SEED}, got {value}")
    return int(value)


def check_device(text: str) -> str:
    """A torch device this machine has: cpu, cuda, cuda:N (N < the GPU count) or mps."""
    try:
        device = torch.device(str(text))
    except (RuntimeError, ValueError):
        raise InputError(f"unknown device {text!r}: give cpu, cuda, cuda:N or mps") from None
    if device.type not in DEVICE_TYPES:
        raise InputError(f"device {text!r} is not supported: give cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {text!r}: CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= count:
            raise InputError(f"device {text!r}: this machine has {count} CUDA device(s), cuda:0 .. cuda:{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {text!r}: MPS is not available on this machine; use --device cpu")
    return str(text)


def pixel_problem(pixels: torch.Tensor) -> str | None:
    """Why `pixels` are not float pixels in [0, 1] ("float16 is not ..." / "NaN or inf" / "values outside
    [0, 1]"), or None when they are. NaN fails both comparisons, so one pass catches it."""
    if not pixels.is_floating_point():
        return f"{pixels.dtype} values, not floating point"
    if pixels.numel() and not bool(((pixels >= 0) & (pixels <= 1)).all()):
        return "NaN or inf" if not bool(torch.isfinite(pixels).all()) else "values outside [0, 1]"
    return None


def check_finite(values: Array, what: str, hint: str = "every value must be a finite number") -> None:
    """Refuse NaN or inf anywhere in `values` (codes, model outputs, pixels), naming the first bad row."""
    array = _numpy(values)
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        first = np.argwhere(bad)[0]
        row = f" (row {int(first[0])})" if array.ndim > 1 else f" (entry {int(first[0])})"
        raise InputError(f"{what} holds NaN or inf{row}; {hint}")


def check_not_empty(count: int, what: str) -> None:
    """Refuse an empty set (queries, database, list file) where at least one object is needed."""
    if count <= 0:
        raise InputError(f"{what} is empty; at least one object is needed")


def check_targets(query_labels: Array, target_labels: Array, anchor_labels: dict[int, Array] | None,
                  what: str, query_ids: Sequence[int] | None = None) -> None:
    """User-given targets: each target label must differ from its query's label, and every anchor
    object of a query must carry exactly the target label.

    query_labels, target_labels: (n, C) 0/1; anchor_labels: n_t -> (n, n_t, C) labels of the anchors.
    """
    queries, targets = _numpy(query_labels), _numpy(target_labels)
    ids = list(query_ids) if query_ids is not None else list(range(len(queries)))
    if queries.shape != targets.shape:
        raise InputError(f"{what}: target labels have shape {tuple(targets.shape)}, the queries' labels "
                         f"{tuple(queries.shape)}; they must match")
    same = np.flatnonzero((queries == targets).all(axis=1))
    if len(same):
        row = int(same[0])
        classes = np.flatnonzero(targets[row]).tolist()
        raise InputError(f"{what}: the target label {classes} of query {ids[row]} equals the query's own label; "
                         "a target must differ from it")
    for n_t, labels in sorted((anchor_labels or {}).items()):
        labels = _numpy(labels)
        wrong = np.argwhere((labels != targets[:, None, :]).any(axis=2))
        if len(wrong):
            row, slot = (int(v) for v in wrong[0])
            raise InputError(f"{what}: anchor {slot} (n_t = {n_t}) of query {ids[row]} does not carry the target "
                             f"label {np.flatnonzero(targets[row]).tolist()}; anchors must be objects of the target label")


def check_manifest(manifest, query_labels: Array, db_labels: Array, n_t: int, source: str = "the manifest") -> None:
    """A user-given manifest (`targets.Manifest`) must fit the dataset and the run: at least one
    query, anchors for `n_t`, ids inside the query set and database, as many classes as the
    dataset, targets that differ from the queries' labels, anchors of the target label."""
    query_labels, db_labels = _numpy(query_labels), _numpy(db_labels)
    check_not_empty(len(manifest.query_ids), f"the query set of {source}")
    if n_t not in manifest.anchor_ids:
        raise InputError(f"{source} holds anchors for n_t in {sorted(manifest.anchor_ids)}, not {n_t}")
    if any(not 0 <= i < len(query_labels) for i in manifest.query_ids):
        raise InputError(f"{source}: a query id is outside the query set of {len(query_labels)}")
    if any(not 0 <= i < len(db_labels) for rows in manifest.anchor_ids.values() for r in rows for i in r):
        raise InputError(f"{source}: an anchor id is outside the database of {len(db_labels)}")
    if manifest.target_labels.shape[1] != db_labels.shape[1]:
        raise InputError(f"{source} has {manifest.target_labels.shape[1]} classes, the dataset {db_labels.shape[1]}")
    by_n_t = getattr(manifest, "target_labels_by_n_t", {})   # targets of the n_t values whose draw differs
    for n_t, targets in by_n_t.items():
        if targets.shape != manifest.target_labels.shape:
            raise InputError(f"{source}: the targets of n_t = {n_t} have shape {tuple(targets.shape)}, "
                             f"not {tuple(manifest.target_labels.shape)}")
    anchors = {size: db_labels[np.asarray(ids, dtype=np.int64).reshape(len(ids), size)]
               for size, ids in manifest.anchor_ids.items()}
    queries = query_labels[np.asarray(manifest.query_ids)]
    check_targets(queries, manifest.target_labels, {n: a for n, a in anchors.items() if n not in by_n_t}, source,
                  manifest.query_ids)
    for n_t, targets in by_n_t.items():
        check_targets(queries, targets, {n_t: anchors[n_t]} if n_t in anchors else {}, source, manifest.query_ids)


__all__ = ["read_bytes", "read_text", "read_json", "read_toml", "parse_text", "nesting_depth", "check_count",
           "MAX_FILE_BYTES", "MAX_JSON_DEPTH", "MAX_INT64", "MAX_CLASSES", "MAX_LABEL_CELLS", "MAX_BITS", "MAX_STEPS",
           "MAX_EPOCHS", "MAX_QUERIES", "MAX_BATCH", "MAX_N_T", "MAX_CLIP_FRAMES", "MAX_IMAGE_SIDE", "MAX_COUNT", "MAX_SWEEP_POINTS",
           "MAX_PIXELS", "MAX_FRAME_PIXELS", "MAX_CHECKPOINT_BYTES", "MAX_CHECKPOINT_TENSORS", "MAX_INFLATION", "MAX_ARRAY_BYTES",
           "at", "line_error", "check_choice", "choices_text", "EPS_SPACES", "check_seed", "check_device", "MAX_SEED", "pixel_problem", "check_finite", "check_not_empty", "check_targets", "check_manifest"]
