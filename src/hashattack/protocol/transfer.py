"""Transfer attacks: craft on surrogate models, score t-MAP on victim models with the victims' own codes.

    result = run_transfer(TransferSpec(surrogates=((a,), (b,), (a, b)), victims=(a, b, c),
                                       controls=RunControls(out="runs/transfer")))

One manifest (queries, target labels, anchor objects) serves every surrogate. Each surrogate (one
model, or an `Ensemble` whose DHTA loss is the sum of its members') is attacked once, with the
anchors voted from *its own* database codes of the manifest's objects, into `<out>/<surrogate>/`,
a run folder that resumes after a kill and keeps every query's adversarial pixels. Every victim
then encodes those pixels and its t-MAP is scored against the target labels with the victim's
own database codes. The white-box cells are those whose surrogate is the victim itself.

The folder holds manifest.json, transfer.json (the matrix and every per-query number),
table.md / table.csv (rows surrogates, columns victims, t-MAP %), figures/transfer.png (heat
map) and report.html / report.md. The folder is locked for the whole run (`protocol.run_lock`); a
folder holding another kind of output is refused, one holding a transfer matrix with other settings
(method, attack settings, queries, seed, victims, surrogates) unless forced.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch

from hashattack.attacks.registry import method as registered_method
from hashattack.data.base import source_names
from hashattack.files import atomic_write_json
from hashattack.models.encode import encode_set
from hashattack.models.ensemble import Ensemble
from hashattack.protocol.attacking import Finish, all_adversarial_pixels, attacked_batches, codes_from_records
from hashattack.protocol.engine import plan
from hashattack.protocol.run_lock import RunLock
from hashattack.protocol.runfolder import RunFolder, check_folder_kind, check_same_settings, run_fingerprint
from hashattack.protocol.scoring import build_attacks, json_floats
from hashattack.protocol.settings import conventions
from hashattack.protocol.model_sources import ModelSource
from hashattack.protocol.sources import obtain_model, open_data
from hashattack.protocol.spec import RunSpec
from hashattack.protocol.transfer_spec import TransferSpec, model_label, row_label
from hashattack.reporting.transfer import write_transfer_report
from hashattack.retrieval.codes import anchor_code
from hashattack.retrieval.metrics import average_precisions, mean_of_average_precisions
from hashattack.run_format import MANIFEST_FILE, TRANSFER_FILE, TRANSFER_FORMAT

BENIGN_ROW = "benign queries (no attack)"


def folder_name(label: str) -> str:
    return "surrogate-" + "".join(c if c.isalnum() or c in "-." else "_" for c in label.replace(" + ", "+"))


def run_transfer(spec: TransferSpec) -> dict:
    """Run the transfer matrix (resolved: the dataset's defaults in place) into `spec.controls.out` (locked while
    it runs); returns what transfer.json holds."""
    spec = spec.resolved()
    out = Path(spec.controls.out)
    check_folder_kind(out, "transfer")
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    lock.acquire()
    try:
        check_folder_kind(out, "transfer")
        return _run_transfer(spec, out)
    finally:
        lock.release()


def _run_transfer(spec: TransferSpec, out: Path) -> dict:
    started = time.perf_counter()
    source = open_data(spec.data, spec.seed)
    dataset, settings, controls = source.dataset, spec.attack, spec.controls
    manifest = plan(RunSpec(data=spec.data, methods=(spec.method,), attack=settings, queries=spec.queries,
                            seed=spec.seed, manifest=spec.manifest), source)
    entry = registered_method(spec.method)
    entry_n_t = entry.target_size(settings.n_t)   # the objects its anchors are voted from
    object_ids = torch.tensor(manifest.anchor_ids[entry_n_t])
    query_ids = torch.tensor(manifest.query_ids)
    images = dataset.query.pixels(query_ids)
    targets = torch.from_numpy(manifest.targets(entry_n_t))
    db_labels = dataset.database.labels
    loaded: dict[str, tuple] = {}   # repr(model source) -> (model, metadata, database codes)

    def model_of(model_spec: ModelSource) -> tuple:
        if repr(model_spec) not in loaded:
            model, meta = obtain_model(model_spec, spec.data, source, controls.device, controls.progress)
            codes = encode_set(model, dataset.database, device=controls.device, progress=controls.progress,
                               desc=f"encode database ({model_label(model_spec, spec.data)})")
            loaded[repr(model_spec)] = (model, meta, codes)
        return loaded[repr(model_spec)]

    def t_map(codes: torch.Tensor, db_codes: torch.Tensor) -> tuple[float, list]:
        aps = average_precisions(codes, db_codes, targets, db_labels, settings.depth)
        return mean_of_average_precisions(aps, settings.zero_relevance), json_floats(aps)

    victims = [model_label(v, spec.data) for v in spec.victims]
    rows = spec.rows()
    check_same_settings(out / TRANSFER_FILE, {
        "dataset": dataset.name, "method": spec.method, "num_queries": len(manifest), "seed": manifest.seed,
        "settings": asdict(settings), "victims": victims, "surrogates": [row_label(r, spec.data) for r in rows]},
        "transfer matrix", controls.force)
    manifest.save(out / MANIFEST_FILE)
    matrix: dict[str, dict] = {BENIGN_ROW: {"members": [], "victims": {}}}
    for victim, name in zip(spec.victims, victims):
        model, _, db_codes = model_of(victim)
        benign = encode_set(model, images, settings.batch_size, controls.device, progress=False)
        matrix[BENIGN_ROW]["victims"][name] = dict(zip(("t_map", "t_ap"), t_map(benign, db_codes)))
    for row in rows:
        label = row_label(row, spec.data)
        parts = [model_of(m) for m in row]
        surrogate = parts[0][0] if len(parts) == 1 else Ensemble([p[0] for p in parts]).eval()
        db_codes = torch.cat([p[2] for p in parts], dim=1)
        _, steered_by = entry.targets(manifest.anchor_ids, settings.n_t, db_codes, dataset.database.pixels)
        attack = build_attacks((spec.method,), surrogate, settings, manifest.seed, controls.progress)[spec.method]
        path = out / folder_name(label)
        finish = Finish.of_run(settings.quantize, path if controls.export else None, dataset.query, manifest.query_ids)
        with _surrogate_folder(spec, path, dataset, manifest, row, parts, settings) as folder:
            records, _ = attacked_batches(spec.method, attack, surrogate, images, steered_by, manifest.query_ids,
                                          settings.batch_size, folder, controls.device, controls.progress, finish=finish,
                                          keep_all=True)
            adversarial = all_adversarial_pixels(folder, spec.method, len(images), settings.batch_size, images.shape)
        own = t_map(codes_from_records(records), db_codes)
        cells = {}
        for victim, name in zip(spec.victims, victims):
            model, _, victim_codes = model_of(victim)
            codes = encode_set(model, adversarial, settings.batch_size, controls.device, progress=False)
            score, aps = t_map(codes, victim_codes)
            cells[name] = {"t_map": score, "t_ap": aps, "white_box": repr(victim) in map(repr, row),
                           "anchor_reached": int((codes == anchor_code(victim_codes[object_ids])).all(1).sum())}
        matrix[label] = {"members": [model_label(m, spec.data) for m in row], "folder": folder.path.name,
                         "surrogate_t_map": own[0], "victims": cells}
    result = {
        "format": TRANSFER_FORMAT, "dataset": dataset.name, "method": spec.method, "num_queries": len(manifest),
        "seed": manifest.seed, "settings": asdict(settings), "conventions": conventions(settings),
        "victims": victims, "surrogates": [row_label(r, spec.data) for r in rows], "benign_row": BENIGN_ROW,
        "matrix": matrix, "sources": source_names(dataset.query, manifest.query_ids)[:20],
        "models": {model_label(m, spec.data): _model_record(m, model_of(m)[1])
                   for m in [*spec.victims, *(m for row in rows for m in row)]},
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(out / TRANSFER_FILE, result)
    write_transfer_report(out, result)
    return result


def _surrogate_folder(spec: TransferSpec, path: Path, dataset, manifest, row, parts, settings) -> RunFolder:
    """The surrogate's run folder, locked: bound to its members, the settings and the manifest; resumes after a kill."""
    identity = {"ensemble": [m.identity(p[1], int(p[2].shape[1])) for m, p in zip(row, parts)]}   # (defaults in)
    folder = RunFolder(path, run_fingerprint(dataset, manifest, identity, asdict(settings), (spec.method,),
                                             spec.controls.device, spec.controls.export), force=spec.controls.force)
    try:
        folder.check()
        folder.start()
        manifest.save(path / MANIFEST_FILE)
    except BaseException:
        folder.release()
        raise
    return folder


def _model_record(spec: ModelSource, meta: dict) -> dict:
    kept = {k: v for k, v in meta.items() if k in ("path", "sha256", "train", "model", "source")}
    return {**{k: v for k, v in spec.to_json().items() if k != "cache_dir" and v not in (None, (), {}, False)}, **kept}


__all__ = ["run_transfer", "TRANSFER_FORMAT", "BENIGN_ROW"]
