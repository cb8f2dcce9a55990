"""The runs a report covers: one run folder, or a sweep of them, read back from their files.

A run folder holds `results.json` at its top. A sweep folder holds `sweep.json`
(`{"format": "hashattack-sweep/1", "axes": {"bits": [16, 32]}, "runs": ["bits-16", "bits-32"],
"table": "table.md"}`) and one run folder per point of the sweep. A folder with neither (e.g.
one written by an older version) is read as a sweep of every run found below it, its axes
being the settings that differ between the runs.

Names read from a folder's files (sweep.json's runs and table) must name something inside that
folder (`files.confined_name`), and a run folder reached through a symbolic link out of it is
refused; results.json and sweep.json are read up to `MAX_RECORD_BYTES`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from hashattack.errors import InputError
from hashattack.files import confined_name
from hashattack.reporting.tables import main_convention, summary_values
from hashattack.run_format import RESULTS_FILE, SWEEP_AXES, SWEEP_FILE, SWEEP_FORMAT, TABLE_FILE
from hashattack.validation import MAX_SWEEP_POINTS, read_json

MAX_DEPTH = 3
MAX_RECORD_BYTES = 256 * 2**20   # a results.json or sweep.json larger than this is refused


@dataclass
class Run:
    """One run: its folder, its results.json record, and where it lies in its sweep ({axis: value})."""

    folder: Path
    record: dict
    coordinates: dict = field(default_factory=dict)


@dataclass
class Runs:
    """What a report covers: `runs` in the sweep's order, the swept `axes` ({axis: values}; empty for
    one run), the sweep's own table file if it has one, and the sweep's runs not (yet) written."""

    root: Path
    runs: list[Run]
    axes: dict[str, list]
    table: Path | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def is_sweep(self) -> bool:
        return len(self.runs) > 1 or self.runs[0].folder != self.root


def read_record(path: Path) -> dict:
    """A results.json record, checked for the fields a report needs."""
    record = read_json(path, "results", MAX_RECORD_BYTES)
    if not isinstance(record, dict) or "methods" not in record or "settings" not in record:
        raise InputError(f"{path}: not a hashattack results file (no 'methods' or 'settings')")
    why = _record_problem(record)
    if why is not None:
        raise InputError(f"{path}: malformed results ({why})")
    return record


def _number(value) -> bool:
    """A number a table can show: int or float (inf from an older file included), or None (null)."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _record_problem(record: dict) -> str | None:
    """Why a results record cannot be reported (None: it can): the fields the report reads, by type."""
    if not isinstance(record["settings"], dict):
        return "'settings' is not an object"
    if not isinstance(record["methods"], dict) or not record["methods"]:
        return "'methods' is not an object of methods"
    for name, entry in record["methods"].items():
        if not isinstance(entry, dict):
            return f"methods.{name} is not an object"
        for key in ("t_map", "map", "seconds"):
            if not _number(entry.get(key)):
                return f"methods.{name}.{key} is {entry.get(key)!r:.40}, not a number"
        sizes = entry.get("perceptibility", {})
        if not isinstance(sizes, dict) or not all(_number(v) for v in sizes.values()):
            return f"methods.{name}.perceptibility is not an object of numbers"
    for key in ("bits", "num_queries", "seed"):
        if key in record and not _number(record[key]):
            return f"'{key}' is {record[key]!r:.40}, not a number"
    for key in ("spec", "conventions", "model", "export"):
        if key in record and not isinstance(record[key], dict):
            return f"'{key}' is not an object"
    if not isinstance(record.get("spec", {}).get("methods", []), list):
        return "spec.methods is not a list"
    return None


def setting(record: dict, axis: str):
    """The value of `axis` in a record: its settings' entry, else its top-level one (e.g. "bits"), else None."""
    return record["settings"][axis] if axis in record["settings"] else record.get(axis)


def load_runs(run_dir: str | Path) -> Runs:
    """The runs of `run_dir`: one run, a sweep (sweep.json), or every run found below it."""
    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(f"run folder {root} does not exist")
    if (root / SWEEP_FILE).is_file():
        return _sweep(root)
    if (root / RESULTS_FILE).is_file():
        return Runs(root, [Run(root, read_record(root / RESULTS_FILE))], {})
    found = [Run(path.parent, read_record(path)) for depth in range(1, MAX_DEPTH + 1)
             for path in sorted(root.glob("/".join(["*"] * depth + [RESULTS_FILE])))
             if _inside(path.parent, root)]
    if not found:
        raise InputError(f"no results.json in {root} or its sub-folders: run an experiment into it first")
    axes = {axis: values for axis in SWEEP_AXES
            if len(values := list(dict.fromkeys(setting(run.record, axis) for run in found))) > 1}
    for run in found:
        run.coordinates = {axis: setting(run.record, axis) for axis in axes}
    found.sort(key=lambda run: (tuple((v is None, v) for v in run.coordinates.values()), str(run.folder)))
    return Runs(root, found, axes)


def _inside(folder: Path, root: Path) -> bool:
    """Whether `folder` is a folder below `root` with no symbolic link on the way (nothing read out of `root`)."""
    try:
        parts = folder.relative_to(root).parts
    except ValueError:
        return False
    return all(not (root.joinpath(*parts[:i + 1])).is_symlink() for i in range(len(parts))) and folder.is_dir()


def _sweep(root: Path) -> Runs:
    where = root / SWEEP_FILE
    sweep = read_json(where, "sweep", MAX_RECORD_BYTES)
    try:
        axes = {str(axis): list(values) for axis, values in sweep["axes"].items()}
        names = [str(name) for name in sweep["runs"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{where}: malformed sweep ({exc!r})") from None
    for name in [*names, str(sweep.get("table", TABLE_FILE))]:
        confined_name(name, f"{where}: a run or table name")
    if sweep.get("format") != SWEEP_FORMAT:
        raise InputError(f"{where}: format {str(sweep.get('format'))[:40]!r}, expected {SWEEP_FORMAT!r}")
    points = math.prod(len(values) for values in axes.values())
    if points > MAX_SWEEP_POINTS or len(names) > MAX_SWEEP_POINTS:
        raise InputError(f"{where}: a sweep of {max(points, len(names)):,} points, more than the limit "
                         f"of {MAX_SWEEP_POINTS:,}")
    grid = list(itertools.product(*axes.values())) if points == len(names) else []
    runs, missing = [], []
    for i, name in enumerate(names):
        path = root / name / RESULTS_FILE
        if (root / name).exists() and not _inside(root / name, root):
            raise InputError(f"{where}: run {name[:80]!r} is a symbolic link or not a folder; a sweep's runs are "
                             f"folders inside it")
        if not path.is_file():
            missing.append(name)
            continue
        record = read_record(path)
        point = dict(zip(axes, grid[i])) if len(grid) == len(names) else {}
        coordinates = {axis: setting(record, axis) for axis in axes}
        runs.append(Run(root / name, record, {a: point.get(a) if v is None else v for a, v in coordinates.items()}))
    if not runs:
        raise InputError(f"none of the {len(names)} runs of the sweep in {root} has a results.json yet")
    table = root / str(sweep.get("table", TABLE_FILE))
    shown = table.is_file() and not table.is_symlink() and _inside(table.parent, root)
    return Runs(root, runs, axes, table if shown else None, missing)


def method_order(records: list[dict]) -> list[str]:
    """The methods of the records in the run's order: the one its spec lists (JSON objects may come back
    key-sorted, lists keep their order), else the order of its "methods"; across records, first seen first."""
    order = {}
    for record in records:
        listed = record.get("spec", {}).get("methods") if isinstance(record.get("spec"), dict) else None
        order |= dict.fromkeys([m for m in listed or () if m in record["methods"]] + list(record["methods"]))
    return list(order)


def summary_row(record: dict) -> dict:
    """A run's t-MAP of each method, its benign MAP and its MAP under the untargeted attack
    ({"DHTA t-MAP": …, "Original MAP": …, "Untargeted MAP": …}), fractions."""
    return summary_values(record["methods"], method_order([record]), main_convention(record))


__all__ = ["Run", "Runs", "load_runs", "read_record", "setting", "method_order", "summary_row", "SWEEP_FORMAT"]
