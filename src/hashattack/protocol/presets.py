"""The paper's experiments as presets: each writes a run folder with its manifest, results and a
table in the paper's layout.

- `bits`:     Original / Noise / P2P / DHTA t-MAP and Original MAP per code length (appendix Table 1);
- `eps`:      DHTA t-MAP at one code length for several ε (appendix Table 2);
- `feature`:  the feature-based attack vs DHTA per code length (appendix Table 3);
- `nt`:       DHTA t-MAP as n_t, the number of target objects voted into the anchor, varies;
- `open-set`: Table 1's methods when the model is trained on some classes only and every target
              label is one it never saw (appendix Fig. 2).

All sub-runs of a preset share one manifest (queries, targets, anchor objects), written as
`manifest.json` at the top of the run folder; each sub-run writes `results.json` in its own
folder (`16bits/`, `eps0.1/`, `nt9/`, ...); the preset's table is `table.md` / `table.csv` and
`preset.json` holds its rows, settings and wall time. A model is trained (or taken from the
cache) once per code length and the database encoded once per model.

Each sub-run folder is a resumable `runfolder.RunFolder`: finished batches of attacked queries
are kept in its `batches/`, so running the same preset again after an interruption attacks only
what is missing; a sub-run folder holding other settings is refused unless `force`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from hashattack.data.base import RetrievalDataset
from hashattack.models.encode import encode_set
from hashattack.errors import InputError
from hashattack.protocol.engine import AttackSettings, METHODS, conventions, run_methods, summary_row, trained_model
from hashattack.files import atomic_write_json
from hashattack.reporting.tables import nt_table, table1, table2, table3, write_table
from hashattack.protocol.runfolder import RunFolder, run_fingerprint
from hashattack.protocol.targets import Manifest, choose_targets
from hashattack.training.loop import TrainConfig

PRESETS = ("bits", "eps", "feature", "nt", "open-set")
PAPER_BITS = (16, 32, 48, 64)
PAPER_N_TS = (1, 3, 5, 7, 9, 11, 13, 15)


@dataclass(frozen=True)
class PresetConfig:
    """Everything a preset needs besides the dataset. `settings` holds the attack settings of every
    sub-run (its eps / n_t are replaced by the sweep of the `eps` / `nt` presets)."""

    settings: AttackSettings = AttackSettings()
    architecture: str = "small-cnn"
    model_kwargs: dict = field(default_factory=dict)
    train: TrainConfig = TrainConfig()
    bits: tuple[int, ...] = PAPER_BITS          # code lengths of `bits` and `feature`
    single_bits: int = 32                       # the code length of `eps`, `nt` and `open-set`
    eps_values: tuple[float, ...] = (0.02, 0.05, 0.1, 0.15, 0.2)
    n_t_values: tuple[int, ...] = PAPER_N_TS
    seen_classes: tuple[int, ...] | None = None  # open-set: classes trained on (default: the first half)
    num_queries: int = 100
    seed: int = 0
    cache_dir: Path | None = None
    device: str = "cpu"
    progress: bool = True
    force: bool = False                          # start sub-runs over instead of resuming them


@dataclass
class OpenSetSplit:
    """A dataset whose training set holds only the `seen` classes, with the queries and targets of the open-set run."""

    dataset: RetrievalDataset
    seen: list[int]
    unseen: list[int]
    query_ids: np.ndarray

    def is_unseen(self, label_vector: np.ndarray) -> bool:
        """A target label is open-set when none of its classes was seen in training."""
        return not np.asarray(label_vector)[self.seen].any()


def open_set_split(dataset: RetrievalDataset, seen: list[int] | None = None) -> OpenSetSplit:
    """Restrict training to the `seen` classes (default: the first half of the classes).

    Training objects and queries: those whose labels all lie in `seen`; targets: label vectors with
    no seen class. The database keeps every object (the system searches all of it).
    """
    num_classes = dataset.num_classes
    seen = sorted(set(range(num_classes // 2) if seen is None else (int(c) for c in seen)))
    if not seen or seen[0] < 0 or seen[-1] >= num_classes or len(seen) == num_classes:
        raise InputError(f"seen classes must be a proper, non-empty subset of 0..{num_classes - 1}, got {seen}")
    unseen = [c for c in range(num_classes) if c not in seen]

    def only_seen(labels: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(labels[:, unseen].sum(1) == 0).flatten()

    train = dataset.train.subset(only_seen(dataset.train.labels))
    query_ids = only_seen(dataset.query.labels).numpy()
    if len(train) == 0 or len(query_ids) == 0:
        raise InputError(f"no training objects or queries carry only the seen classes {seen}")
    names = ", ".join(dataset.class_names[c] for c in seen) if dataset.class_names else str(seen)
    protocol = {**dataset.protocol, "train": f"{dataset.protocol.get('train', 'train split')}, "
                                            f"restricted to the seen classes {seen} ({names})",
                "open_set": "queries of seen classes only; targets carry none of the seen classes"}
    restricted = replace(dataset, name=f"{dataset.name}-seen{'_'.join(map(str, seen))}", train=train,
                         protocol=protocol)
    return OpenSetSplit(restricted, seen, unseen, query_ids)


def draw_manifest(dataset: RetrievalDataset, config: PresetConfig, n_ts, query_ids=None,
                  candidate_filter=None) -> Manifest:
    """One draw of queries, targets and nested anchor objects for every n_t of `n_ts`."""
    largest = max(n_ts)
    if largest > len(dataset.database):
        raise InputError(f"n_t = {largest} is larger than the database ({len(dataset.database)} objects)")
    pool = None if query_ids is None else np.asarray(query_ids)
    if pool is not None:
        if not 0 < config.num_queries <= len(pool):
            raise InputError(f"number of queries must be between 1 and {len(pool)}, got {config.num_queries}")
        pool = np.sort(np.random.default_rng(config.seed).choice(pool, size=config.num_queries, replace=False))
    return choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), config.num_queries,
                          n_ts=n_ts, seed=config.seed, query_ids=pool, candidate_filter=candidate_filter,
                          dataset=dataset.name)


def check_manifest(manifest: Manifest, n_ts, dataset: RetrievalDataset) -> Manifest:
    missing = sorted(set(n_ts) - set(manifest.anchor_ids))
    if missing:
        raise InputError(f"the manifest holds anchors for n_t in {sorted(manifest.anchor_ids)}; this preset needs {missing} too")
    if any(not 0 <= i < len(dataset.query) for i in manifest.query_ids):
        raise InputError(f"a query id of the manifest is outside the query set of {len(dataset.query)}")
    return manifest


def run_preset(preset: str, dataset: RetrievalDataset, out_dir: str | Path, config: PresetConfig = PresetConfig(),
               manifest: Manifest | None = None) -> dict:
    """Run one preset end to end into `out_dir`; returns its summary (also written as preset.json)."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}: choose from {', '.join(PRESETS)}")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    runner = {"bits": _bits, "eps": _eps, "feature": _feature, "nt": _nt, "open-set": _open_set}[preset]
    summary = runner(dataset, out_dir, config, manifest)
    summary = {"preset": preset, "dataset": summary.pop("dataset", dataset.name),
               "architecture": config.architecture, "settings": asdict(config.settings),
               "conventions": conventions(config.settings), "num_queries": summary.pop("num_queries"),
               "seconds": round(time.perf_counter() - started, 1), **summary}
    atomic_write_json(out_dir / "preset.json", {k: v for k, v in summary.items() if k != "table"})
    return summary


# --- the presets --------------------------------------------------------------------------------


def _per_code_length(dataset, out_dir, config, manifest, methods, layout, caption):
    """One sub-run per code length on one shared manifest, tabulated with `layout`."""
    manifest = _manifest(dataset, config, manifest, (1, config.settings.n_t), out_dir)
    rows = []
    for bits in config.bits:
        model, meta, db_codes = _model_and_codes(dataset, bits, config)
        record = _sub_run(out_dir / f"{bits}bits", dataset, bits, model, meta, db_codes, manifest, config.settings,
                          methods, config)
        rows.append(record["summary"])
    header, body = layout(rows)
    return _finish(out_dir, dataset, manifest, config, header, body, rows, caption)


def _bits(dataset, out_dir, config, manifest):
    return _per_code_length(dataset, out_dir, config, manifest, METHODS, table1,
                            f"t-MAP / MAP (%) per code length on {dataset.name} (appendix Table 1 layout)")


def _feature(dataset, out_dir, config, manifest):
    return _per_code_length(dataset, out_dir, config, manifest, ("Feature", "DHTA"), table3,
                            f"t-MAP (%) of the feature-based attack (target: the n_t = 1 object's feature) and DHTA "
                            f"on {dataset.name} (appendix Table 3 layout)")


def _eps(dataset, out_dir, config, manifest):
    manifest = _manifest(dataset, config, manifest, (1, config.settings.n_t), out_dir)
    bits = config.single_bits
    model, meta, db_codes = _model_and_codes(dataset, bits, config)
    rows = []
    for eps in config.eps_values:
        settings = replace(config.settings, eps=float(eps))
        record = _sub_run(out_dir / f"eps{eps:g}", dataset, bits, model, meta, db_codes, manifest, settings,
                          ("DHTA",), config)
        dhta = record["methods"]["DHTA"]
        rows.append({"eps": float(eps), "DHTA t-MAP": dhta["t_map"],
                     "psnr_median": dhta["perceptibility"].get("psnr_median")})
    header, body = table2([r["eps"] for r in rows], [r["DHTA t-MAP"] for r in rows], dataset.name)
    return _finish(out_dir, dataset, manifest, config, header, body, rows,
                   f"DHTA t-MAP (%) at {bits} bits for each ε ({config.settings.eps_space} space) on {dataset.name} "
                   f"(appendix Table 2 layout)")


def _nt(dataset, out_dir, config, manifest):
    n_ts = tuple(sorted(set(config.n_t_values)))
    manifest = _manifest(dataset, config, manifest, n_ts, out_dir)
    bits = config.single_bits
    model, meta, db_codes = _model_and_codes(dataset, bits, config)
    rows = []
    for n_t in n_ts:
        settings = replace(config.settings, n_t=int(n_t))
        record = _sub_run(out_dir / f"nt{n_t}", dataset, bits, model, meta, db_codes, manifest, settings,
                          ("DHTA",), config)
        rows.append({"n_t": int(n_t), "DHTA t-MAP": record["methods"]["DHTA"]["t_map"]})
    header, body = nt_table([r["n_t"] for r in rows], [r["DHTA t-MAP"] for r in rows])
    return _finish(out_dir, dataset, manifest, config, header, body, rows,
                   f"DHTA t-MAP (%) at {bits} bits as n_t varies on {dataset.name} (n_t = 1 is P2P; nested draws: "
                   f"the n_t objects are the first n_t of one random order of the target's objects)")


def _open_set(dataset, out_dir, config, manifest):
    split = open_set_split(dataset, config.seen_classes)
    n_ts = (1, config.settings.n_t)
    if manifest is None:
        manifest = draw_manifest(split.dataset, config, n_ts, split.query_ids, split.is_unseen)
        manifest.extra = {"seen_classes": split.seen, "unseen_classes": split.unseen}
    else:
        check_manifest(manifest, n_ts, split.dataset)
        if any(not split.is_unseen(row) for row in manifest.target_labels):
            raise InputError(f"the manifest has targets among the seen classes {split.seen}: not an open-set manifest")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.save(out_dir / "manifest.json")
    bits = config.single_bits
    model, meta, db_codes = _model_and_codes(split.dataset, bits, config)
    record = _sub_run(out_dir / f"{bits}bits", split.dataset, bits, model, meta, db_codes, manifest, config.settings,
                      METHODS, config)
    header, body = table1([record["summary"]])
    seen = ", ".join(dataset.class_names[c] for c in split.seen) if dataset.class_names else str(split.seen)
    unseen = ", ".join(dataset.class_names[c] for c in split.unseen) if dataset.class_names else str(split.unseen)
    summary = _finish(out_dir, split.dataset, manifest, config, header, body, [record["summary"]],
                      f"Open-set t-MAP / MAP (%) on {dataset.name}: model trained on classes {split.seen} ({seen}); "
                      f"every target label among the unseen classes {split.unseen} ({unseen}); queries of seen classes "
                      f"(appendix Table 1 layout)")
    return {**summary, "seen_classes": split.seen, "unseen_classes": split.unseen}


# --- shared steps -------------------------------------------------------------------------------


def _manifest(dataset, config, manifest, n_ts, out_dir) -> Manifest:
    if manifest is None:
        manifest = draw_manifest(dataset, config, n_ts)
    else:
        check_manifest(manifest, n_ts, dataset)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.save(out_dir / "manifest.json")
    return manifest


def _model_and_codes(dataset, bits, config):
    model, meta = trained_model(dataset, config.architecture, bits, config.train, config.cache_dir, config.device,
                                config.progress, config.model_kwargs)
    db_codes = encode_set(model, dataset.database, device=config.device, progress=config.progress,
                          desc=f"encode database ({bits} bits)")
    return model, meta, db_codes


def _sub_run(out_dir, dataset, bits, model, meta, db_codes, manifest, settings, methods, config) -> dict:
    folder = RunFolder(out_dir, run_fingerprint(dataset, bits, config.architecture, config.train, settings, methods,
                                                manifest, config.device, model_kwargs=config.model_kwargs),
                       force=config.force)
    folder.check()
    folder.start(meta.get("sha256"))
    results = run_methods(model, dataset, db_codes, manifest, settings, methods, config.device, config.progress,
                          store=folder)
    record = {
        "dataset": dataset.name,
        "protocol": dataset.protocol,
        "bits": bits,
        "architecture": config.architecture,
        "model": {k: v for k, v in meta.items() if k not in ("loss_history", "train_seconds")},
        "settings": asdict(settings),
        "conventions": conventions(settings),
        "num_queries": len(manifest),
        "seed": manifest.seed,
        "manifest": "../manifest.json",
        "methods": results,
        "summary": summary_row(bits, results),
    }
    atomic_write_json(out_dir / "results.json", record)
    atomic_write_json(out_dir / "timing.json", folder.timing(meta.get("train_seconds")))
    return record


def _finish(out_dir, dataset, manifest, config, header, body, rows, title) -> dict:
    settings = config.settings
    caption = (f"{title}. {len(manifest)} queries, eps = {settings.eps} ({settings.eps_space} space) unless swept, "
               f"{settings.steps} steps, n_t = {settings.n_t} unless swept, {conventions(settings)['map']}, "
               f"zero-relevance queries: {settings.zero_relevance}, model {config.architecture}.")
    table = write_table(out_dir, header, body, caption=caption)
    return {"dataset": dataset.name, "num_queries": len(manifest), "rows": rows, "caption": caption, "table": table}


__all__ = ["PRESETS", "PresetConfig", "run_preset", "open_set_split", "OpenSetSplit", "draw_manifest",
           "PAPER_BITS", "PAPER_N_TS"]
