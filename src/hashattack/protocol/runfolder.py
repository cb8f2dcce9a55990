"""A run folder that survives being killed: finished batches on disk, resumed on the next run.

Layout of a run folder (its names are `hashattack.run_format`'s)::

    run.json            the run's settings fingerprint (and the model's SHA-256), written first
    run.lock            while a process writes the folder (`protocol.run_lock`): no second one may
    manifest.json       queries, targets and anchors
    batches/            one small JSON file per method and batch of attacked queries
    results.json, table.md, table.csv    the final results, assembled from the batch files
    timing.json         wall-clock seconds (kept out of results.json so results are byte-stable)

Every file is written atomically (temporary file, fsync, rename), so a `kill -9` at any moment
leaves each file either whole or absent. Running the same command again finds `run.json`,
checks that its fingerprint equals the new run's, and reuses every batch file sealed to this run
with a checksum that matches (`protocol.batch_files`); any other batch file is attacked again,
with a one-line notice. The results are assembled from the batch records in both cases, so they
are byte-identical to an uninterrupted run. A folder made with other settings is refused (two
runs are never mixed); `force=True` clears it and starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import torch

from hashattack.errors import InputError
from hashattack.files import atomic_write_bytes, atomic_write_json, remove_stale_temporaries, strict_json
from hashattack.protocol import batch_files
from hashattack.protocol.batch_files import examples_bytes, notice, read_examples
from hashattack.protocol.batch_store import FORCE_HINT, MemoryBatches, checked_examples
from hashattack.protocol.fingerprint import canonical, dataset_fingerprint, differences, digest, run_fingerprint
from hashattack.protocol.run_lock import RunLock
from hashattack.run_format import BATCH_DIR, BATCH_FORMAT, EXPORT_DIR, KINDS, LOCK_FILE, RESULT_FILES, RUN_FILE, RUN_FORMAT
from hashattack.validation import read_json

def check_folder_kind(path: str | Path, kind: str) -> None:
    """Refuse a folder that holds another kind of output than `kind` (a run, a sweep, a transfer matrix,
    a robustness comparison; `run_format.KINDS`): one folder never mixes two, with or without --force."""
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}: one of {', '.join(KINDS)}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"run folder {path} is a file; choose a folder")
    for other, names in KINDS.items():
        found = [name for name in names if other != kind and os.path.lexists(path / name)]
        if found:
            raise InputError(f"run folder {path} holds a {other} ({found[0]}), not a {kind}; hashattack does not "
                             f"write one over the other (--force starts over the same kind only): choose another folder")


def check_same_settings(file: str | Path, current: dict, what: str, force: bool, names_only: tuple = ()) -> None:
    """Refuse, unless `force`, a folder whose `file` (sweep.json, transfer.json) records other values for
    the keys of `current` than `current` (a sweep or a transfer matrix with other settings); for the keys
    in `names_only` (objects) only their keys are compared (a sweep's axes, not their values)."""
    file = Path(file)
    if not os.path.lexists(file) or force:
        return
    previous = _read_json(file, what)
    names = lambda key, value: sorted(value) if key in names_only and isinstance(value, dict) else value
    changed = differences({key: names(key, previous.get(key)) for key in current},
                          {key: names(key, value) for key, value in json.loads(strict_json(current)).items()})
    if changed:
        shown = "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise InputError(f"run folder {file.parent} holds a {what} with other settings ({shown}); {FORCE_HINT}")


MAX_JSON_BYTES = 64 * 2**20


def _read_json(path: Path, what: str) -> dict:
    try:
        value = read_json(path, what, MAX_JSON_BYTES)
    except InputError as exc:
        raise InputError(f"{exc}; {FORCE_HINT}") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: malformed {what} (not a JSON object); {FORCE_HINT}")
    return value


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class RunFolder(MemoryBatches):
    """A run folder bound to one settings fingerprint, written by one process at a time.

    Use: `with RunFolder(path, fingerprint, force) as folder:` (`lock=False`: the ranks of a torchrun
    job that write batches into a folder rank 0 holds); `folder.check()` (before any expensive
    work; takes the folder's lock when the folder exists, raises InputError when another process holds
    it or the folder belongs to another run); `folder.start(model_sha256)` (takes the lock, clears the
    folder when forced, writes run.json); then `load_batch` / `save_batch`. Leaving the `with` block
    (or `release()`) lets the lock go.
    """

    def __init__(self, path: str | Path, fingerprint: dict, force: bool = False, lock: bool = True):
        super().__init__()
        self.path = Path(path)
        self.fingerprint = canonical(fingerprint)
        self.run_sha256 = digest(self.fingerprint)
        self.force = force
        self.resuming = False
        self._previous: dict | None = None
        self._lock = RunLock(self.path) if lock else None   # under torchrun rank 0 alone locks
        self._examples_sha256: dict[tuple[str, int], str] = {}

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        """Let another process write the folder."""
        if self._lock is not None:
            self._lock.release()

    @property
    def batch_dir(self) -> Path:
        return self.path / BATCH_DIR

    def batch_path(self, method: str, index: int) -> Path:
        return self.batch_dir / f"{_safe_name(method)}-{index:05d}.json"

    def examples_path(self, method: str, index: int) -> Path:
        return self.batch_dir / f"{_safe_name(method)}-{index:05d}.examples.npy"

    def finished_batches(self) -> list[Path]:
        return sorted(self.batch_dir.glob("*.json")) if self.batch_dir.is_dir() else []

    def check(self) -> None:
        """Refuse a folder that another process writes, or that holds another run (different fingerprint,
        or results without run.json)."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"run folder {self.path} is a file; choose a folder")
        if self.path.is_dir() and self._lock is not None:
            self._lock.acquire()
        check_folder_kind(self.path, "run")
        run_file = self.path / RUN_FILE
        if run_file.is_file():
            previous = _read_json(run_file, "run file")
            if previous.get("format") != RUN_FORMAT or not isinstance(previous.get("fingerprint"), dict):
                if not self.force:
                    raise InputError(f"{run_file}: not a {RUN_FORMAT} run file; {FORCE_HINT}")
                return
            changed = differences(previous["fingerprint"], self.fingerprint)
            if changed and not self.force:
                shown = "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")
                raise InputError(f"run folder {self.path} holds a run with other settings ({shown}); {FORCE_HINT}")
            if not changed and not self.force:
                self.resuming = True
                self._previous = previous
            return
        leftovers = [name for name in RESULT_FILES if (self.path / name).exists()] + \
                    ([BATCH_DIR] if self.finished_batches() else [])
        if leftovers and not self.force:
            raise InputError(f"run folder {self.path} holds results ({', '.join(leftovers)}) without {RUN_FILE}, "
                             f"so they cannot be checked against this run; {FORCE_HINT}")

    def start(self, model_sha256: str | None = None) -> None:
        """Claim the folder for this run: lock it, clear it when forced, refuse a changed model, write run.json."""
        if self.resuming and self._previous is not None:
            before = self._previous.get("model_sha256")
            if before is not None and model_sha256 is not None and before != model_sha256:
                raise InputError(f"run folder {self.path} was started with model weights {before[:12]}…, "
                                 f"the model now is {model_sha256[:12]}… (retrained?); {FORCE_HINT}")
        self.path.mkdir(parents=True, exist_ok=True)
        if self._lock is not None:
            self._lock.acquire()
        if self.force:
            self.clear()
        if self.batch_dir.is_symlink() or (self.batch_dir.exists() and not self.batch_dir.is_dir()):
            print(f"hashattack: notice: {self.batch_dir}: not a folder; removed, every batch is attacked",
                  file=sys.stderr)
            self.batch_dir.unlink()
        remove_stale_temporaries(self.path, (".", BATCH_DIR))   # half-written files of a killed run
        remove_stale_temporaries(self.path, (EXPORT_DIR,), recursive=True)
        record = {"format": RUN_FORMAT, "fingerprint": self.fingerprint, "fingerprint_sha256": self.run_sha256}
        if model_sha256 is not None:
            record["model_sha256"] = model_sha256
        atomic_write_json(self.path / RUN_FILE, record)

    def clear(self) -> None:
        """Remove this tool's files from the folder (run.json, batches, results); others are kept."""
        for folder in (self.batch_dir, self.path / EXPORT_DIR):
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder)
            elif folder.is_symlink() or folder.exists():
                folder.unlink()
        for name in (RUN_FILE, *RESULT_FILES):
            (self.path / name).unlink(missing_ok=True)

    def load_batch(self, method: str, index: int, query_ids: list[int],
                   examples_shape: tuple[int, ...] | None = None) -> dict | None:
        """The finished batch's record, or None when it has to be attacked: not written yet, or a file
        that is not this run's intact batch (a one-line notice says why; the batch is attacked again).
        `examples_shape`: the shape of the adversarial pixels the batch must have kept beside it."""
        path = self.batch_path(method, index)
        if not (path.exists() or path.is_symlink()):
            return None
        record = batch_files.read_record(path)
        why = record if isinstance(record, str) else \
            batch_files.problem(record, self.run_sha256, method, index, [int(i) for i in query_ids])
        if why is None and examples_shape is not None:
            pixels = read_examples(self.examples_path(method, index), examples_shape, record.get("examples_sha256"))
            why = pixels if isinstance(pixels, str) else None
            if why is None and record.get("examples_sha256") is None:
                why = "it records no examples_sha256 for its examples file"
            if why is None:
                self._examples[(method, index)] = pixels
        if why is not None:
            notice(path, why)
            return None
        self._count(self.reused, record)
        return record

    def save_batch(self, method: str, index: int, record: dict) -> dict:
        """Write a batch record sealed to this run (and to the examples saved before it) atomically."""
        sha = self._examples_sha256.pop((method, index), None)
        record = canonical({"format": BATCH_FORMAT, "method": method, "batch": index, **record}
                           | ({"examples_sha256": sha} if sha is not None else {}))
        record = batch_files.seal(record, self.run_sha256)
        path = self.batch_path(method, index)
        if path.is_symlink() or path.is_dir():
            batch_files.remove(path)
        atomic_write_json(path, record)
        self._count(self.computed, record)
        return record

    def save_examples(self, method: str, index: int, pixels: torch.Tensor) -> None:
        """Write the adversarial pixels of a batch's first queries (float32 .npy, atomically) before
        the batch record, which records their SHA-256, so a finished batch always has its own."""
        data = examples_bytes(pixels)
        path = self.examples_path(method, index)
        if path.is_symlink() or path.is_dir():
            batch_files.remove(path)
        atomic_write_bytes(path, data)
        self._examples_sha256[(method, index)] = hashlib.sha256(data).hexdigest()
        self._examples.pop((method, index), None)

    def load_examples(self, method: str, index: int, shape: tuple[int, ...]) -> torch.Tensor:
        """The kept pixels of a batch: those checked when it was loaded, else read (a batch another
        rank attacked under torchrun)."""
        if (method, index) in self._examples:
            return checked_examples(self._examples[(method, index)], shape, f"batch {index} of {method}")
        pixels = read_examples(self.examples_path(method, index), shape)
        if isinstance(pixels, str):
            raise InputError(f"{self.batch_path(method, index)}: {pixels}; {FORCE_HINT}")
        return pixels


__all__ = ["RunFolder", "MemoryBatches", "run_fingerprint", "dataset_fingerprint", "digest", "differences", "canonical",
           "RUN_FILE", "BATCH_DIR", "BATCH_FORMAT", "LOCK_FILE", "RESULT_FILES", "KINDS", "check_folder_kind", "check_same_settings"]
