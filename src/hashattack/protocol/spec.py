"""What a run is, as data: the dataset, the model, the methods and their settings, the evaluation.

A `RunSpec` is declarative and checked when it is made; the engine (`protocol.engine.run`) turns
any spec into a run folder, with the dataset's defaults filled in (`RunSpec.resolved`). Where and
how it runs (folder, device, progress bars, ...) are its `controls`, apart from what it is. A sweep
is a spec plus `axes`: settings with several values (code length, ε, n_t, steps); the engine runs
every combination into `<out>/<axis>-<value>` on one manifest and tabulates them side by side.

    spec = RunSpec(data=DataSpec(dataset="fashion-mnist"), model=TrainedModel(bits=32),
                   controls=RunControls(out="runs/demo"))
    sweep = replace(spec, axes=(("bits", (16, 32, 48, 64)),), controls=RunControls(out="runs/bits"))
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
from dataclasses import asdict, dataclass, fields, replace

from hashattack.attacks.registry import PAPER_METHODS, ordered
from hashattack.data.image_files import CHANNELS
from hashattack.data.mosaic import DATABASE as MOSAICS
from hashattack.data.registry import COMMON_OPTIONS, DatasetEntry, available_datasets, dataset_entry
from hashattack.errors import InputError
from hashattack.protocol.model_sources import CheckpointModel, FactoryModel, ModelSource, TrainedModel
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.targets import TARGET_PROTOCOLS
from hashattack.retrieval.engines import parse_index
from hashattack.run_format import SWEEP_AXES
from hashattack.validation import check_choice, check_seed

MAX_SWEEP_POINTS = 1000      # a sweep runs every combination of its axes' values: at most this many
SAFE_POINT_NAME = re.compile(r"[A-Za-z0-9_.+-]+")
RECORDED = ("data", "model", "methods", "attack", "queries", "seed", "manifest", "database_codes",
            "database_labels", "target_protocol", "index")   # what a result records of its spec, in this order


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Which data a run searches and attacks: a registered `dataset` (`data.available_datasets()`) and the
    options that apply to it (its entry's `options`; another option changed from its default is refused).

    `dataset`: fashion-mnist (embedded default), mosaic-fashion (its multi-label 2x2 mosaics, `mosaics` in the
    database), imagenet100 / nus-wide (list files under `root`),
    moving-fashion (embedded clips), jhmdb / ucf101 (videos under `root`), or images (a user's
    class-per-subfolder folder or list file `root`, queries from `query_data` or split off it).
    `seen_classes`: open-set (the model trains on these classes only; targets are the others).
    """

    dataset: str = "fashion-mnist"
    root: str | None = None
    train_list: str | None = None
    database_list: str | None = None
    query_list: str | None = None
    lists: str | None = None            # jhmdb / ucf101: folder of list files
    train_per_class: int = 2000          # fashion-mnist
    frames: int = 16                     # moving-fashion
    query_data: str | None = None        # images
    query_split: int | None = None       # images: objects of `root` set aside as queries (default 10 %)
    size: int | None = None              # images: resize to size x size
    channels: int = 3                    # images
    seen_classes: tuple[int, ...] | None = None
    mosaics: int = MOSAICS               # mosaic-fashion: database mosaics (R and the training sample follow)

    def __post_init__(self):
        entry = self.entry
        for option in fields(self):
            if option.name not in ("dataset", *COMMON_OPTIONS, *entry.options) and \
                    getattr(self, option.name) != option.default:
                takers = [name for name in available_datasets() if option.name in dataset_entry(name).options]
                raise InputError(f"{option.name} applies to {', '.join(takers)}, not {self.dataset}")
        if entry.check is not None:
            entry.check(self)
        if not isinstance(self.mosaics, int) or self.mosaics <= 0:
            raise InputError(f"mosaics must be a positive integer, got {self.mosaics!r}")
        if self.channels not in CHANNELS:
            raise InputError(f"channels must be 1 or 3, got {self.channels}")

    @property
    def entry(self) -> DatasetEntry:
        """The dataset's registry entry: how it opens, its defaults (`data.registry`)."""
        return dataset_entry(self.dataset)

    @property
    def is_video(self) -> bool:
        return self.entry.video


@dataclass(frozen=True, kw_only=True)
class RunControls:
    """Where and how a run runs, not what it is: none of these changes a number it reports (`export`
    adds the scores of the PNG files it writes)."""

    out: str = "runs/demo"
    device: str = "cpu"
    progress: bool = True
    force: bool = False
    figures: bool = True
    export: bool = False              # write every adversarial query as an 8-bit PNG (protocol.export)


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """What every experiment (a run, a transfer matrix) is made of: the data, the attack settings shared by
    its methods, its queries (`queries` drawn with `seed`, or those of `manifest`), and its run controls."""

    data: DataSpec = DataSpec()
    attack: AttackSettings = AttackSettings()
    queries: int = 100
    seed: int = 0
    manifest: str | None = None
    controls: RunControls = RunControls()

    def __post_init__(self):
        if not isinstance(self.queries, int) or self.queries <= 0:
            raise InputError(f"queries must be a positive integer, got {self.queries!r}")
        check_seed(self.seed)

    def resolved(self):
        """This spec with the dataset's defaults in place of the unset attack settings (`AttackSettings.resolved`):
        what the engine runs and records. A spec built in Python and one from the command line resolve alike."""
        return replace(self, attack=self.attack.resolved(self.data))


@dataclass(frozen=True, kw_only=True)
class RunSpec(Experiment):
    """One run (or, with `axes`, a sweep of runs) end to end."""

    model: ModelSource = TrainedModel()   # protocol.model_sources: TrainedModel, CheckpointModel, FactoryModel
    methods: tuple[str, ...] = PAPER_METHODS
    axes: tuple[tuple[str, tuple], ...] = ()
    database_codes: str | None = None   # search a stored database: codes (.npy, ±1 or 0/1) ...
    database_labels: str | None = None  # ... and their labels (.npy) instead of encoding the dataset's database
    target_protocol: str = "paired"     # protocol.targets: "paired" (one draw for every n_t) or "official"
    index: str | None = None            # score on this search engine's results (retrieval.engines), e.g. "hnsw:M=32"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "methods", ordered(self.methods))
        if self.index is not None:
            object.__setattr__(self, "index", parse_index(self.index).text)
        if self.target_protocol not in TARGET_PROTOCOLS:
            raise InputError(f"unknown target protocol {self.target_protocol!r}: choose from "
                             f"{', '.join(TARGET_PROTOCOLS)}")
        seen = set()
        for axis, values in self.axes:
            if axis not in SWEEP_AXES:
                raise InputError(f"cannot sweep {axis!r}: the axes are {', '.join(SWEEP_AXES)}")
            if axis in seen:
                raise InputError(f"axis {axis} is given twice")
            if not values:
                raise InputError(f"axis {axis} has no values")
            for value in values:
                check_axis_value(axis, value)
            if len(set(values)) != len(values):
                raise InputError(f"axis {axis} repeats a value: {list(values)}")
            seen.add(axis)
        count = math.prod(len(values) for _, values in self.axes)
        if count > MAX_SWEEP_POINTS:
            sizes = " x ".join(f"{len(values)} {axis}" for axis, values in self.axes)
            raise InputError(f"the sweep has {count} points ({sizes}); at most {MAX_SWEEP_POINTS} are run: "
                             "give fewer values")
        if (self.database_codes is None) != (self.database_labels is None):
            raise InputError("give both --database-codes and --database-labels (a stored database), or neither")
        if self.database_codes is not None and "bits" in seen:
            raise InputError("stored database codes have one code length: do not sweep bits with them")
        if self.model.fixed_bits and "bits" in seen:
            raise InputError(f"{self.model.description} has one code length: sweep bits with models trained here instead")
        if self.axes:
            for point in self.points():   # every point's settings are checked now, not half-way through a sweep
                point.spec.attack.resolved(self.data)

    def points(self) -> list["SweepPoint"]:
        """Every combination of the axes' values, in order; one point named "" without axes."""
        if not self.axes:
            return [SweepPoint("", {}, self)]
        names = [axis for axis, _ in self.axes]
        return [SweepPoint(point_name(dict(zip(names, values))), dict(zip(names, values)), self)
                for values in itertools.product(*(values for _, values in self.axes))]

    def needed_n_ts(self) -> tuple[int, ...]:
        """Anchor sizes the manifest must hold: P2P's 1 and every n_t of the run (all points)."""
        n_ts = {1} | {p.spec.attack.n_t for p in self.points()}
        return tuple(sorted(n_ts))

    def to_json(self) -> dict:
        """What a result records of the spec (results.json, sweep.json): what decides its numbers, in `RECORDED`
        order: no run controls, no axes (a sweep records them beside it), no model cache folder; the model in its
        one record layout."""
        recorded = {**asdict(self), "model": self.model.to_json()}
        recorded["model"].pop("cache_dir", None)
        return {name: recorded[name] for name in RECORDED}


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: its folder name, its axis values, and the spec with those values in place."""

    name: str
    values: dict
    base: RunSpec

    @property
    def spec(self) -> RunSpec:
        """The base spec with this point's values in place and no axes."""
        if not self.base.axes:
            return self.base
        model, attack = self.base.model, self.base.attack
        for axis, value in self.values.items():
            if axis == "bits":
                model = replace(model, bits=value)
            else:
                attack = replace(attack, **{axis: value})
        return replace(self.base, model=model, attack=attack, axes=())


def check_axis_value(axis: str, value) -> None:
    """A swept value: a positive integer (bits, n_t, steps) or a positive finite number (eps); nothing
    else, so a sub-run's folder name is always a plain name inside the run folder."""
    number = numbers.Real if axis == "eps" else numbers.Integral
    ok = isinstance(value, number) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    kind = "a positive number" if axis == "eps" else "a positive integer"
    if not ok:
        raise InputError(f"axis {axis}: every value must be {kind}, got {value!r}")


def point_name(values: dict) -> str:
    """Sub-run folder of a sweep point: "bits-16", "eps-0.02", "n_t-1", "bits-16_eps-0.1"; a name that
    is not a plain folder name (a path separator, "..") is refused."""
    name = "_".join(f"{axis}-{value:g}" if isinstance(value, float) else f"{axis}-{value}"
                    for axis, value in values.items())
    if not SAFE_POINT_NAME.fullmatch(name) or ".." in name:
        raise InputError(f"sweep point {name!r} is not a plain folder name: sweep values must be numbers")
    return name


__all__ = ["DataSpec", "TrainedModel", "CheckpointModel", "FactoryModel", "ModelSource", "RunSpec", "RunControls",
           "Experiment", "SweepPoint", "SWEEP_AXES", "MAX_SWEEP_POINTS", "RECORDED", "point_name", "check_axis_value"]
