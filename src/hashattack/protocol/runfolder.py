"""A run folder that survives being killed: finished batches on disk, resumed on the next run.

Layout of a run folder::

    run.json            the run's settings fingerprint (and the model's SHA-256), written first
    manifest.json       queries, targets and anchors
    batches/            one small JSON file per method and batch of attacked queries
    results.json, table.md, table.csv    the final results, assembled from the batch files
    timing.json         wall-clock seconds (kept out of results.json so results are byte-stable)

Every file is written atomically (temporary file, fsync, rename), so a `kill -9` at any moment
leaves each file either whole or absent. Running the same command again finds `run.json`,
checks that its fingerprint equals the new run's, and skips every batch whose file exists; the
results are assembled from the batch files in both cases, so they are byte-identical to an
uninterrupted run. A folder made with other settings is refused (two runs are never mixed);
`force=True` clears it and starts over.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.files import atomic_write_bytes, atomic_write_json
from hashattack.protocol.export import EXPORT_DIR, write_batch
from hashattack.protocol.fingerprint import canonical, dataset_fingerprint, digest, run_fingerprint

RUN_FORMAT = "hashattack-run/1"
BATCH_FORMAT = "hashattack-batch/1"
RUN_FILE = "run.json"
BATCH_DIR = "batches"
RESULT_FILES = ("manifest.json", "results.json", "table.md", "table.csv", "timing.json")
FORCE_HINT = "use --force (force=True) to start over, or another run folder"


def differences(old, new, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, e.g. ['settings.eps: 0.1 -> 0.2']."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(f"{path}: {old.get(key, '(absent)')} -> {new.get(key, '(absent)')}")
            else:
                out.extend(differences(old[key], new[key], path))
        return out
    if old != new:
        show = lambda v: (json.dumps(v) if len(json.dumps(v)) <= 40 else json.dumps(v)[:37] + "...")
        return [f"{prefix or 'value'}: {show(old)} -> {show(new)}"]
    return []


def _read_json(path: Path, what: str) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: malformed {what} ({exc}); {FORCE_HINT}") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: malformed {what} (not a JSON object); {FORCE_HINT}")
    return value


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _checked_examples(pixels: torch.Tensor | None, shape: tuple[int, ...], what: str) -> torch.Tensor:
    if pixels is None:
        raise InputError(f"the adversarial examples of {what} are missing; {FORCE_HINT}")
    if tuple(pixels.shape) != tuple(shape) or pixels.dtype != torch.float32 or not torch.isfinite(pixels).all() \
            or pixels.min() < 0 or pixels.max() > 1:
        raise InputError(f"the adversarial examples of {what} are not float32 pixels in [0, 1] of shape "
                         f"{tuple(shape)}; {FORCE_HINT}")
    return pixels


class MemoryBatches:
    """Batch records kept in memory (a run without a folder); same interface as `RunFolder`."""

    def __init__(self):
        self._records: dict[tuple[str, int], dict] = {}
        self.reused: dict[str, int] = {}       # per method: batches found already finished
        self.computed: dict[str, int] = {}     # per method: batches attacked by this call
        self.seconds: dict[str, float] = {}    # per method: attack seconds of every batch record
        self._examples: dict[tuple[str, int], torch.Tensor] = {}
        self.quantize = False                  # adversarial queries end on the 8-bit grid
        self.keep_pixels = False               # keep every query's adversarial pixels (not only the first ones)
        self.export_root: Path | None = None   # write PNG files under <export_root>/export (protocol.export)
        self.export_names: dict[int, str] = {}  # query id -> file name

    def _count(self, counter: dict[str, int], record: dict) -> None:
        method = record["method"]
        counter[method] = counter.get(method, 0) + 1
        self.seconds[method] = self.seconds.get(method, 0.0) + float(record.get("seconds", 0.0))

    def load_batch(self, method: str, index: int, query_ids: list[int]) -> dict | None:
        record = self._records.get((method, index))
        if record is not None:
            self._count(self.reused, record)
        return record

    def timing(self, train_seconds: float | None = None) -> dict:
        """Wall-clock seconds (summed over batch records, reused ones included) and how many batches
        this call reused or attacked itself, per method and in all."""
        methods = sorted(set(self.reused) | set(self.computed))
        return {
            "train_seconds": train_seconds,
            "batches_reused": sum(self.reused.values()),
            "batches_attacked": sum(self.computed.values()),
            "methods": {m: {"batches_reused": self.reused.get(m, 0), "batches_attacked": self.computed.get(m, 0),
                            "seconds": round(self.seconds.get(m, 0.0), 3)} for m in methods},
        }

    def save_batch(self, method: str, index: int, record: dict) -> dict:
        """Store a batch record; returns it as it reads back (so fresh and resumed runs match)."""
        record = canonical({"format": BATCH_FORMAT, "method": method, "batch": index, **record})
        self._records[(method, index)] = record
        self._count(self.computed, record)
        return record

    def export_batch(self, method: str, query_ids: list[int], benign: torch.Tensor, adversarial: torch.Tensor,
                     eps_pixel: torch.Tensor) -> None:
        """Write a finished batch's adversarial queries as PNG files (when the run exports), before its record."""
        if self.export_root is not None:
            write_batch(self.export_root, method, [self.export_names[int(i)] for i in query_ids], benign,
                        adversarial, eps_pixel)

    def save_examples(self, method: str, index: int, pixels: torch.Tensor) -> None:
        """Keep the adversarial pixels of a batch's first queries (the ones the figures show)."""
        self._examples[(method, index)] = pixels.detach().to(torch.float32).cpu()

    def load_examples(self, method: str, index: int, shape: tuple[int, ...]) -> torch.Tensor:
        """The kept adversarial pixels of batch `index`, which must have `shape`."""
        return _checked_examples(self._examples.get((method, index)), shape, f"batch {index} of {method}")


class RunFolder(MemoryBatches):
    """A run folder bound to one settings fingerprint.

    Use: `folder = RunFolder(path, fingerprint, force)`; `folder.check()` (before any expensive
    work; raises InputError when the folder belongs to another run); `folder.start(model_sha256)`
    (clears the folder when forced, writes run.json); then `load_batch` / `save_batch`.
    """

    def __init__(self, path: str | Path, fingerprint: dict, force: bool = False):
        super().__init__()
        self.path = Path(path)
        self.fingerprint = canonical(fingerprint)
        self.force = force
        self.resuming = False
        self._previous: dict | None = None

    @property
    def batch_dir(self) -> Path:
        return self.path / BATCH_DIR

    def batch_path(self, method: str, index: int) -> Path:
        return self.batch_dir / f"{_safe_name(method)}-{index:05d}.json"

    def finished_batches(self) -> list[Path]:
        return sorted(self.batch_dir.glob("*.json")) if self.batch_dir.is_dir() else []

    def check(self) -> None:
        """Refuse a folder that holds another run (different fingerprint, or results without run.json)."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"run folder {self.path} is a file; choose a folder")
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
        """Claim the folder for this run: clear it when forced, refuse a changed model, write run.json."""
        if self.resuming and self._previous is not None:
            before = self._previous.get("model_sha256")
            if before is not None and model_sha256 is not None and before != model_sha256:
                raise InputError(f"run folder {self.path} was started with model weights {before[:12]}…, "
                                 f"the model now is {model_sha256[:12]}… (retrained?); {FORCE_HINT}")
        if self.force:
            self.clear()
        self.path.mkdir(parents=True, exist_ok=True)
        exported = self.path / EXPORT_DIR
        stale_exports = list(exported.rglob(".*.tmp")) if exported.is_dir() else []
        for stale in list(self.path.glob(".*.tmp")) + list(self.batch_dir.glob(".*.tmp")) + stale_exports:
            stale.unlink(missing_ok=True)   # half-written files of a killed run
        record = {"format": RUN_FORMAT, "fingerprint": self.fingerprint,
                  "fingerprint_sha256": digest(self.fingerprint)}
        if model_sha256 is not None:
            record["model_sha256"] = model_sha256
        atomic_write_json(self.path / RUN_FILE, record)

    def clear(self) -> None:
        """Remove this tool's files from the folder (run.json, batches, results); others are kept."""
        for folder in (self.batch_dir, self.path / EXPORT_DIR):
            if folder.is_dir():
                shutil.rmtree(folder)
        for name in (RUN_FILE, *RESULT_FILES):
            (self.path / name).unlink(missing_ok=True)

    def load_batch(self, method: str, index: int, query_ids: list[int]) -> dict | None:
        """The finished batch's record, or None when it has not been written yet."""
        path = self.batch_path(method, index)
        if not path.is_file():
            return None
        record = _read_json(path, "batch file")
        if (record.get("format") != BATCH_FORMAT or record.get("method") != method or record.get("batch") != index
                or record.get("query_ids") != [int(i) for i in query_ids]):
            raise InputError(f"{path}: batch file does not belong to this run (method {method}, batch {index}); "
                             f"{FORCE_HINT}")
        codes, sizes = record.get("codes"), record.get("perceptibility")
        if (not isinstance(codes, list) or len(codes) != len(query_ids) or not isinstance(record.get("bits"), int)
                or not isinstance(sizes, dict) or any(len(v) != len(query_ids) for v in sizes.values())
                or not isinstance(record.get("seconds"), (int, float))):
            raise InputError(f"{path}: malformed batch file (codes, bits, perceptibility or seconds); {FORCE_HINT}")
        self._count(self.reused, record)
        return record

    def save_batch(self, method: str, index: int, record: dict) -> dict:
        record = canonical({"format": BATCH_FORMAT, "method": method, "batch": index, **record})
        atomic_write_json(self.batch_path(method, index), record)
        self._count(self.computed, record)
        return record

    def examples_path(self, method: str, index: int) -> Path:
        return self.batch_dir / f"{_safe_name(method)}-{index:05d}.examples.npy"

    def save_examples(self, method: str, index: int, pixels: torch.Tensor) -> None:
        """Write the adversarial pixels of a batch's first queries (float32 .npy, atomically) before
        the batch record, so a finished batch always has them."""
        buffer = io.BytesIO()
        np.save(buffer, pixels.detach().to(torch.float32).cpu().numpy(), allow_pickle=False)
        atomic_write_bytes(self.examples_path(method, index), buffer.getvalue())

    def load_examples(self, method: str, index: int, shape: tuple[int, ...]) -> torch.Tensor:
        path = self.examples_path(method, index)
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            array = None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: malformed examples file ({exc}); {FORCE_HINT}") from None
        return _checked_examples(None if array is None else torch.from_numpy(np.array(array)), shape, str(path))


__all__ = ["RunFolder", "MemoryBatches", "run_fingerprint", "dataset_fingerprint", "digest", "differences", "canonical",
           "RUN_FILE", "BATCH_DIR", "RESULT_FILES"]
