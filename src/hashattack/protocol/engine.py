"""The one experiment engine: any `RunSpec` (a run, or a sweep of runs) into one run-folder format.

    record = run(RunSpec(controls=RunControls(out="runs/demo")))                         # one run
    summary = run(RunSpec(axes=(("bits", (16, 32, 48, 64)),), controls=RunControls(out="runs/bits")))   # a sweep

A run folder holds run.json, manifest.json, batches/, results.json, table.md / table.csv,
timing.json, curves.json, examples.npz, figures/ and report.html. A sweep folder holds one such
run folder per point (`bits-16/`, `eps-0.02/`, `n_t-1/`, ...), all on one manifest, and at its
top manifest.json, sweep.json, table.md / table.csv (one column per point), timing.json and
report.html with the t-MAP curves. Runs resume after a kill (see `protocol.runfolder`), work
under torchrun (see `protocol.distributed`), and take the attacks' speed options.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.files import atomic_write_json
from hashattack.protocol import distributed
from hashattack.protocol.attacking import Finish
from hashattack.protocol.export import finish_export
from hashattack.protocol.run_lock import RunLock
from hashattack.protocol.runfolder import RunFolder, check_folder_kind, check_same_settings, run_fingerprint
from hashattack.protocol.scoring import build_attacks, run_methods, summary_row
from hashattack.protocol.settings import conventions
from hashattack.models.acceleration import enable_tf32
from hashattack.protocol.sources import Source, obtain_model, open_data, with_defaults
from hashattack.protocol.spec import RunSpec, SweepPoint
from hashattack.protocol.stored_database import check_code_length, with_stored_database
from hashattack.protocol.targets import Manifest, choose_targets, load_manifest
from hashattack.reporting.report import write_report
from hashattack.reporting.run_figures import write_run_figures
from hashattack.reporting.tables import column_label, convention_caption, results_table, write_table
from hashattack.retrieval.ranking import HammingIndex
from hashattack.run_format import MANIFEST_FILE, RESULTS_FILE, SWEEP_FILE, SWEEP_FORMAT, TABLE_FILE, TIMING_FILE
from hashattack.validation import check_manifest, check_not_empty




def run(spec: RunSpec) -> dict:
    """Run `spec` (resolved: the dataset's defaults in place) into `spec.controls.out`. Returns the run's record
    (results.json plus table and timing), or for a sweep its summary (sweep.json plus "records", one per point)."""
    started = time.perf_counter()
    spec = spec.resolved()
    controls = spec.controls
    device = distributed.setup(controls.device)   # under torchrun: join the process group; this rank's device
    enable_tf32(spec.attack.tf32)   # explicit both ways (cuDNN's default is TF32), as run.json records it
    progress = controls.progress and distributed.is_main()
    source = open_data(spec.data, spec.seed)
    stored = None
    if spec.database_codes is not None:   # the database is stored codes and labels (protocol.stored_database)
        source, stored = with_stored_database(source, spec)
    manifest = plan(spec, source)
    models: dict[str, tuple] = {}   # repr of a point's model source -> (model, metadata, database codes)
    records = []
    with _sweep_lock(spec):
        for point in spec.points():
            key = repr(point.spec.model)   # points differing only in attack settings share the model
            if key not in models:
                models[key] = _model_and_codes(point.spec, source, device, progress, stored)
            out = Path(controls.out) / point.name if point.name else Path(controls.out)
            records.append(run_point(point.spec, source, *models[key], manifest, out, device, progress,
                                     label=_label(point, models[key][2].shape[1])))
        if not spec.axes:
            return records[0]
        return finish_sweep(spec, source, manifest, spec.points(), records, time.perf_counter() - started)


@contextmanager
def _sweep_lock(spec: RunSpec):
    """A sweep's top folder locked for the whole sweep (each run folder below has its own lock); a folder
    holding a single run or another kind is refused, one holding a sweep with other settings unless forced."""
    if not spec.axes or not distributed.is_main():
        yield
        return
    out = Path(spec.controls.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"sweep folder {out} is a file; choose a folder")
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    lock.acquire()
    try:
        check_folder_kind(out, "sweep")
        check_same_settings(out / SWEEP_FILE, {"spec": spec.to_json(), "axes": dict(spec.axes)}, "sweep",
                            spec.controls.force, names_only=("axes",))
        yield
    finally:
        lock.release()


def plan(spec: RunSpec, source: Source) -> Manifest:
    """The run's queries, targets and anchor objects: drawn once for every point, or the spec's manifest."""
    dataset = source.dataset
    needed = spec.needed_n_ts()
    if spec.manifest is not None:
        manifest = load_manifest(spec.manifest, len(dataset.query), len(dataset.database), dataset.name)
        for n_t in needed:
            check_manifest(manifest, dataset.query.labels, dataset.database.labels, n_t, str(spec.manifest))
        targets = [manifest.target_labels, *manifest.target_labels_by_n_t.values()]
        if source.target_filter is not None and not all(source.target_filter(t) for ts in targets for t in ts):
            raise InputError(f"{spec.manifest}: its targets include classes the model is trained on: "
                             f"not an open-set manifest")
        return manifest
    check_not_empty(len(dataset.query), f"the query set of {dataset.name}")
    check_not_empty(len(dataset.database), f"the database of {dataset.name}")
    if max(needed) > len(dataset.database):
        raise InputError(f"n_t = {max(needed)} is larger than the database ({len(dataset.database)} objects)")
    queries = spec.queries
    if spec.data.entry.attack_whole_query_set:   # a user's own query set may be small: attack all of it
        queries = min(queries, len(dataset.query))
    pool = None
    if source.query_pool is not None:
        if not 0 < queries <= len(source.query_pool):
            raise InputError(f"number of queries must be between 1 and {len(source.query_pool)}, got {queries}")
        pool = np.sort(np.random.default_rng(spec.seed).choice(source.query_pool, size=queries, replace=False))
    manifest = choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), queries, n_ts=needed,
                              seed=spec.seed, query_ids=pool, candidate_filter=source.target_filter,
                              dataset=dataset.name, protocol=spec.target_protocol)
    manifest.extra = dict(source.manifest_extra)
    return manifest


def _model_and_codes(spec: RunSpec, source: Source, device: str, progress: bool, stored=None) -> tuple:
    with distributed.main_first():   # rank 0 trains and caches the model, the others load it
        model, meta = obtain_model(spec.model, spec.data, source, device, progress)
    if stored is not None:
        check_code_length(stored, model, source.dataset.query.pixels(slice(0, 1)).to(device), spec.database_codes)
        return model, {**meta, "database_codes": spec.database_codes, "database_codes_sha256": hashlib.sha256(stored.numpy().tobytes()).hexdigest()}, \
            stored
    codes = distributed.encode_sharded(model, source.dataset.database, device=device, progress=progress,
                                       desc="encode database")
    return model, meta, codes


def _label(point: SweepPoint, bits: int) -> str:
    if not point.values:
        return column_label("bits", bits)
    return ", ".join(column_label(axis, value) for axis, value in point.values.items())


def run_point(spec: RunSpec, source: Source, model: torch.nn.Module, meta: dict, db_codes: torch.Tensor,
              manifest: Manifest, out: Path, device: str, progress: bool, label: str) -> dict:
    """One run into `out`: attack with every method (resuming finished batches), score, write the results,
    the table, the figures and the report."""
    dataset, settings = source.dataset, spec.attack
    writes = distributed.is_main()       # under torchrun rank 0 writes the run's files; each rank its batches
    identity = with_defaults(spec.model, spec.data).identity(meta, int(db_codes.shape[1]))
    if "database_codes_sha256" in meta:   # a stored database: other codes are another run
        identity["database_codes_sha256"] = meta["database_codes_sha256"]
    # built once, before the folder: settings this model refuses (a normalized eps beyond [0, 1]) fail here
    attacks = build_attacks(spec.methods, model, settings, manifest.seed, progress)
    scored = asdict(settings) | ({"index": spec.index} if spec.index else {})   # an engine's results are another run
    folder = RunFolder(out, run_fingerprint(dataset, manifest, identity, scored, spec.methods, device,
                                            spec.controls.export), force=spec.controls.force and writes, lock=writes)
    with folder:   # the folder is locked until the run is written (protocol.run_lock)
        return _write_point(spec, source, model, meta, db_codes, manifest, out, device, progress, label, folder,
                            identity, attacks)


def _write_point(spec: RunSpec, source: Source, model: torch.nn.Module, meta: dict, db_codes: torch.Tensor,
                 manifest: Manifest, out: Path, device: str, progress: bool, label: str, folder: RunFolder,
                 identity: dict, attacks: dict) -> dict:
    """`run_point` once the folder is known (and, once checked, locked), with the point's built attacks."""
    dataset, settings, writes, bits = source.dataset, spec.attack, distributed.is_main(), int(db_codes.shape[1])
    finish = Finish.of_run(settings.quantize, out if spec.controls.export else None, dataset.query, manifest.query_ids)
    with distributed.main_first():       # rank 0 claims (or clears) the folder before the others check it
        folder.check()
        if writes:
            folder.start(meta.get("sha256"))
            manifest.save(out / MANIFEST_FILE)
    with open_index(spec.index, db_codes) as index:
        results, codes, examples = run_methods(model, dataset, db_codes, manifest, settings, attacks, device,
                                               progress, store=folder, index=index, finish=finish)
        described = index.describe() if spec.index else None
    architecture = with_defaults(spec.model, spec.data).architecture_label(meta)
    record = {
        "dataset": dataset.name,
        "protocol": dataset.protocol,
        "bits": bits,
        "architecture": architecture,
        "model": {k: v for k, v in meta.items() if k not in ("loss_history", "train_seconds")},
        "settings": asdict(settings),
        "conventions": conventions(settings, manifest.protocol),
        "num_queries": len(manifest),
        "seed": manifest.seed,
        "spec": spec.to_json(),
        "methods": results,
        "summary": summary_row(bits, results, settings.zero_relevance),
    } | ({"index": described} if described else {})
    if spec.controls.export and writes:
        record["export"] = finish_export(out, model, dataset, db_codes, manifest, codes, settings, device)
    if writes:
        atomic_write_json(out / RESULTS_FILE, record)
    header, body = results_table([(label, record["summary"])])
    text = caption(spec, source, len(manifest), protocol=manifest.protocol)
    record["table"] = f"{text}\n\n{write_table(out, header, body, caption=text)}" if writes else None
    record["timing"] = folder.timing(meta.get("train_seconds"))   # under torchrun: this rank's batches
    record["folder"] = str(out)
    if writes:
        atomic_write_json(out / TIMING_FILE, record["timing"])
        if spec.controls.figures and spec.database_codes is None:   # a stored database has no pixels to show
            with distributed.solo():      # rank 0 alone draws the figures
                write_run_figures(out, dataset, db_codes, manifest, codes, examples)
        write_report(out)
    return record


@contextmanager
def open_index(index: str | None, db_codes: torch.Tensor):
    """The search engine `index` over the database codes (None: exact ranking, nothing built), closed after."""
    if index is None:
        yield None
        return
    with HammingIndex(db_codes.cpu(), index) as built:
        yield built


def caption(spec: RunSpec, source: Source, num_queries: int, swept: tuple[str, ...] = (),
            protocol: str = "paired") -> str:
    """The caption of a run's or a sweep's table: data, queries and every setting the numbers depend on."""
    settings = spec.attack
    unless = lambda axis: " unless swept" if axis in swept else ""
    what = f"per {', '.join(swept)} " if swept else ""
    text = (f"t-MAP / MAP (%) {what}on {source.dataset.name}, {num_queries} queries, eps = {settings.eps} "
            f"({settings.eps_space} space){unless('eps')}, {settings.steps} steps{unless('steps')}, "
            f"n_t = {settings.n_t}{unless('n_t')}, {conventions(settings)['map']}, {protocol} target "
            f"protocol. {convention_caption(settings.zero_relevance)}")
    if spec.index:
        text += f" Ranked by the search engine {spec.index} (exact ranking's figures in results.json)."
    return f"{text} {source.note[0].upper()}{source.note[1:]}." if source.note else text


def finish_sweep(spec: RunSpec, source: Source, manifest: Manifest, points: list[SweepPoint], records: list[dict],
                 seconds: float) -> dict:
    """The sweep's own files at `spec.controls.out`: manifest, one table with a column per point, sweep.json, report."""
    out = Path(spec.controls.out)
    axes = tuple(axis for axis, _ in spec.axes)
    columns = [(_label(p, r["bits"]), r["summary"]) for p, r in zip(points, records)]
    header, body = results_table(columns)
    text = caption(spec, source, len(manifest), axes, manifest.protocol)
    summary = {
        "format": SWEEP_FORMAT,
        "dataset": source.dataset.name,
        "axes": {axis: list(values) for axis, values in spec.axes},
        "runs": [p.name for p in points],
        "num_queries": len(manifest),
        "seed": manifest.seed,
        "conventions": conventions(spec.attack, manifest.protocol),
        "spec": spec.to_json(),
        "rows": [{"run": p.name, **p.values, **r["summary"]} for p, r in zip(points, records)],
        "caption": text,
        "table": TABLE_FILE,
    }
    if distributed.is_main():
        manifest.save(out / MANIFEST_FILE)
        atomic_write_json(out / SWEEP_FILE, summary)
        summary["table_text"] = f"{text}\n\n{write_table(out, header, body, caption=text)}"
        atomic_write_json(out / TIMING_FILE, {"seconds": round(seconds, 1),
                                                "runs": {p.name: r["timing"] for p, r in zip(points, records)}})
        write_report(out, run_reports=False)   # each run wrote its own report as it finished
    return {**summary, "records": records}


__all__ = ["run", "plan", "run_point", "finish_sweep", "caption", "SWEEP_FORMAT"]
