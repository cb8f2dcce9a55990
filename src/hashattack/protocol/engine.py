"""The paper's protocol: get a trained model, encode the database, choose queries and targets,
run every method on the same queries, and score t-MAP / MAP.

All methods of a run share one manifest (queries, target labels, anchor objects), so their
t-MAPs compare pairwise. t-MAP scores an adversarial query's ranking against its *target*
label; MAP scores the benign query against its own label ("Original MAP" in the paper).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hashattack.protocol import distributed
from hashattack.attacks import DHTA, P2P, Attack, FeatureAttack, Noise, Original
from hashattack.training.checkpoints import load_checkpoint, metadata_path, save_checkpoint
from hashattack.retrieval.codes import anchor_code, hamming_distance, pack_bits, unpack_bits
from hashattack.data.base import RetrievalDataset
from hashattack.models.encode import encode_set
from hashattack.errors import InputError
from hashattack.files import atomic_write_json
from hashattack.retrieval.metrics import average_precisions, mean_of_average_precisions, perceptibility, summarize_perceptibility
from hashattack.models.inputs import bind_inputs, model_inputs, slice_inputs
from hashattack.models import create_model
from hashattack.reporting.tables import table1, write_table
from hashattack.protocol.runfolder import MemoryBatches, RunFolder, run_fingerprint
from hashattack.protocol.targets import Manifest, choose_targets
from hashattack.training.cache import default_cache_dir, trained_model
from hashattack.training.loop import TrainConfig
from hashattack.validation import check_finite, check_manifest, check_not_empty

METHODS = ("Original", "Noise", "P2P", "DHTA")
ALL_METHODS = METHODS + ("Feature",)   # "Feature": the feature-based attack (appendix Table 3)
TIE_ORDER = "ascending Hamming distance; equal distances keep database order"


@dataclass(frozen=True)
class AttackSettings:
    """Settings shared by every method of a run. ε is in `eps_space` ("pixel" or "normalized")."""

    eps: float = 0.2
    eps_space: str = "pixel"
    steps: int = 2000
    n_t: int = 9
    step_size: float = 1.0
    batch_size: int = 100
    topk: int | None = 1000
    zero_relevance: str = "zero"
    early_stop: bool = False     # speed options of DHTA / P2P (see attacks.dhta); the defaults are the official optimiser
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool | str = False

    def __post_init__(self):
        if not (isinstance(self.eps, (int, float)) and np.isfinite(self.eps) and self.eps > 0):
            raise InputError(f"eps must be a positive number, got {self.eps}")
        if self.eps_space not in ("pixel", "normalized"):
            raise InputError(f"unknown eps space {self.eps_space!r}: choose 'pixel' or 'normalized'")
        if self.eps_space == "pixel" and self.eps > 1:
            raise InputError(f"pixel-space eps must be at most 1 (pixels lie in [0, 1]), got {self.eps}")
        for name in ("steps", "n_t", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.topk is not None and self.topk <= 0:
            raise InputError(f"topk must be a positive integer, got {self.topk}")
        if self.zero_relevance not in ("zero", "drop"):
            raise InputError(f"unknown zero-relevance convention {self.zero_relevance!r}: choose 'zero' or 'drop'")
        if self.precision not in ("fp32", "bf16"):
            raise InputError(f"unknown precision {self.precision!r}: choose 'fp32' or 'bf16'")

    def speed_options(self) -> dict:
        """The keyword options that make DHTA / P2P faster without changing the method."""
        return {"early_stop": self.early_stop, "precision": self.precision, "channels_last": self.channels_last,
                "compile": self.compile}


def build_attack(method: str, model: torch.nn.Module, settings: AttackSettings, seed: int = 0) -> Attack:
    """The attack object of a method name, with the run's settings."""
    common = dict(eps=settings.eps, eps_space=settings.eps_space)
    if method == "Original":
        return Original(model, **common)
    if method == "Noise":
        return Noise(model, seed=seed, **common)
    if method == "P2P":
        return P2P(model, steps=settings.steps, step_size=settings.step_size, **common, **settings.speed_options())
    if method == "DHTA":
        return DHTA(model, steps=settings.steps, n_t=settings.n_t, step_size=settings.step_size, **common,
                    **settings.speed_options())
    if method == "Feature":
        return FeatureAttack(model, steps=settings.steps, step_size=settings.step_size, **common)
    raise InputError(f"unknown method {method!r}: choose from {', '.join(ALL_METHODS)}")


def anchor_codes_for(method: str, manifest: Manifest, db_codes: torch.Tensor, n_t: int) -> torch.Tensor | None:
    """Per-query anchor codes (n_queries, K) a targeted method steers towards; None for baselines.

    For "Feature" it is the code of the n_t = 1 object (P2P's), whose feature that attack pulls towards."""
    size = {"P2P": 1, "DHTA": n_t, "Feature": 1}.get(method)
    if size is None:
        return None
    if size not in manifest.anchor_ids:
        raise InputError(f"the manifest holds no anchors for n_t = {size} (it has {sorted(manifest.anchor_ids)})")
    ids = torch.tensor(manifest.anchor_ids[size])
    return anchor_code(db_codes[ids])


def attack_targets(method: str, manifest: Manifest, dataset: RetrievalDataset, anchors: torch.Tensor | None):
    """What a method's attack is called with besides the queries: the target object's pixels for
    "Feature" (the n_t = 1 object of the manifest, P2P's), the anchor codes otherwise."""
    if method != "Feature":
        return anchors
    return dataset.database.pixels(torch.tensor([ids[0] for ids in manifest.anchor_ids[1]]))


def attack_batch(attack: Attack, images: torch.Tensor, anchors: torch.Tensor | None, query_ids: list[int],
                 device: str = "cpu", inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Attack one batch of queries; returns adversarial pixels on the CPU.

    `inputs`: the batch's extra model inputs (video lengths), bound to the model for this batch."""
    batch = images.to(device)
    model = attack.model
    attack.model = bind_inputs(model, {k: v.to(device) for k, v in (inputs or {}).items()})
    try:
        if isinstance(attack, Noise):
            adv = attack(batch, ids=query_ids)
        elif anchors is None:
            adv = attack(batch)
        else:
            adv = attack(batch, anchors.to(device))
    finally:
        attack.model = model
    return adv.cpu()


def attack_in_batches(attack: Attack, images: torch.Tensor, anchors: torch.Tensor | None, query_ids: list[int],
                      batch_size: int, device: str = "cpu", progress: bool = True,
                      inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Run `attack` over all queries, `batch_size` at a time; returns adversarial pixels on the CPU.
    `inputs`: the queries' extra model inputs (video lengths)."""
    out = []
    starts = distributed.shard(range(0, len(images), batch_size))   # this rank's batches (all, in one process)
    for start in tqdm(starts, desc=attack.name, unit="batch", disable=not (progress and distributed.is_main())):
        stop = start + batch_size
        out.append(attack_batch(attack, images[start:stop], None if anchors is None else anchors[start:stop],
                                query_ids[start:stop], device, slice_inputs(inputs, slice(start, stop))))
    return torch.cat(distributed.gather(out))


def attacked_batches(method: str, attack: Attack, model: torch.nn.Module, images: torch.Tensor,
                     anchors: torch.Tensor | None, query_ids: list[int], batch_size: int, store=None,
                     device: str = "cpu", progress: bool = True,
                     inputs: dict[str, torch.Tensor] | None = None) -> list[dict]:
    """Attack the queries `batch_size` at a time and keep, per batch, what the results need.

    Each batch becomes a record (query ids, adversarial codes as hex, per-query perceptibility,
    seconds) saved in `store` (a `RunFolder` writes one file per batch, atomically) as soon as it
    is done; batches already in the store are not attacked again. Returns the records in order.
    `inputs`: the queries' extra model inputs (video lengths), used batch by batch.
    """
    store = store if store is not None else MemoryBatches()
    starts = range(0, len(images), batch_size)
    mine = distributed.shard(list(enumerate(starts)))   # this rank's batches (all of them in one process)
    records = []
    bar = tqdm(total=len(mine), desc=method, unit="batch", disable=not (progress and distributed.is_main()))
    for index, start in mine:
        stop = start + batch_size
        ids = [int(i) for i in query_ids[start:stop]]
        record = store.load_batch(method, index, ids)
        if record is None:
            started = time.perf_counter()
            benign = images[start:stop]
            extra = slice_inputs(inputs, slice(start, stop))
            adversarial = attack_batch(attack, benign, None if anchors is None else anchors[start:stop], ids, device,
                                       extra)
            check_finite(adversarial, f"{method}'s adversarial queries {start}..{start + len(ids) - 1}",
                         "the model's outputs or gradients are not finite")
            codes = encode_set(model, adversarial, batch_size, device, progress=False, inputs=extra)
            sizes = perceptibility(benign, adversarial)
            record = store.save_batch(method, index, {
                "start": start, "query_ids": ids, "bits": int(codes.shape[1]), "codes": codes_to_hex(codes),
                "perceptibility": {name: values.tolist() for name, values in sizes.items()},
                "seconds": round(time.perf_counter() - started, 3)})
        records.append(record)
        bar.update(1)
    bar.close()
    return distributed.gather(records)


def run_methods(model: torch.nn.Module, dataset: RetrievalDataset, db_codes: torch.Tensor, manifest: Manifest,
                settings: AttackSettings, methods=METHODS, device: str = "cpu", progress: bool = True,
                store=None) -> dict:
    """Attack the manifest's queries with each method and score them. Returns a JSON-able dict.

    `store` (a `RunFolder`) keeps each finished batch on disk and skips batches already there,
    so a killed run resumes; the scores are computed from the stored records either way.
    """
    query_ids = torch.tensor(manifest.query_ids)
    images = dataset.query.pixels(query_ids)
    inputs = model_inputs(dataset.query, query_ids)   # e.g. the frame counts of padded videos
    true_labels = dataset.query.labels[query_ids]
    target_labels = torch.from_numpy(manifest.target_labels)
    db_labels = dataset.database.labels
    score = dict(topk=settings.topk)
    results = {}
    for method in methods:
        attack = build_attack(method, model, settings, seed=manifest.seed)
        attack.progress = progress
        anchors = anchor_codes_for(method, manifest, db_codes, settings.n_t)
        records = attacked_batches(method, attack, model, images, attack_targets(method, manifest, dataset, anchors),
                                   manifest.query_ids, settings.batch_size, store, device, progress, inputs=inputs)
        codes = codes_from_records(records)
        t_ap = average_precisions(codes, db_codes, target_labels, db_labels, **score)
        entry = {
            "t_map": mean_of_average_precisions(t_ap, settings.zero_relevance),
            "t_ap": _json_floats(t_ap),
            "attack": attack.settings(),
            "perceptibility": summarize_perceptibility(perceptibility_from_records(records)),
            "codes": [code for record in records for code in record["codes"]],
        }
        if anchors is not None:
            entry["anchor_hamming"] = hamming_distance(codes, anchors).diagonal().tolist()
        if method == "Original":
            ap = average_precisions(codes, db_codes, true_labels, db_labels, **score)
            entry["map"] = mean_of_average_precisions(ap, settings.zero_relevance)
            entry["ap"] = _json_floats(ap)
        results[method] = entry
    return results


def codes_from_records(records: list[dict]) -> torch.Tensor:
    """The ±1 codes (n, K) float32 of a method's batch records, in query order."""
    bits = records[0]["bits"]
    hexes = [code for record in records for code in record["codes"]]
    packed = np.array([bytearray.fromhex(h) for h in hexes], dtype=np.uint8).reshape(len(hexes), -1)
    return torch.from_numpy(unpack_bits(packed, bits).astype(np.float32))


def perceptibility_from_records(records: list[dict]) -> dict[str, np.ndarray]:
    """Per-query perceptibility arrays (float64) of a method's batch records, in query order."""
    names = records[0]["perceptibility"].keys()
    return {name: np.concatenate([np.asarray(r["perceptibility"][name], dtype=np.float64) for r in records])
            for name in names}


def codes_to_hex(codes: torch.Tensor) -> list[str]:
    """±1 codes -> one hex string per code (bits packed, +1 = 1), compact and readable in JSON."""
    return [row.tobytes().hex() for row in pack_bits(codes)]


def _json_floats(values: np.ndarray) -> list:
    return [None if np.isnan(v) else round(float(v), 6) for v in values]


def plan(dataset: RetrievalDataset, num_queries: int, n_t: int, seed: int) -> Manifest:
    """Draw the run's queries, targets and anchors (P2P's n_t = 1 and DHTA's n_t share one draw)."""
    check_not_empty(len(dataset.query), f"the query set of {dataset.name}")
    check_not_empty(len(dataset.database), f"the database of {dataset.name}")
    if n_t > len(dataset.database):
        raise InputError(f"n_t = {n_t} is larger than the database ({len(dataset.database)} objects)")
    return choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), num_queries,
                          n_ts=(1, n_t), seed=seed, dataset=dataset.name)


def conventions(settings: AttackSettings) -> dict:
    """The conventions a result used, written next to it."""
    return {
        "eps_space": settings.eps_space,
        "map": f"MAP@{settings.topk}" if settings.topk else "MAP@all",
        "zero_relevance": settings.zero_relevance,
        "zero_relevance_meaning": ("queries with no relevant item in the top R count as AP 0"
                                   if settings.zero_relevance == "zero" else
                                   "queries with no relevant item in the top R are left out of the mean (official code)"),
        "tie_order": TIE_ORDER,
        "relevance": "shares at least one label",
    }


def summary_row(bits: int, results: dict) -> dict:
    """The numbers of one code length for the paper's Table 1 layout."""
    row = {f"{m} t-MAP": results[m]["t_map"] for m in results}
    if "Original" in results:
        row["Original MAP"] = results["Original"]["map"]
    return {"bits": bits, **row}


def run_experiment(dataset: RetrievalDataset, bits: int, settings: AttackSettings, out_dir: str | Path,
                   num_queries: int = 100, seed: int = 0, architecture: str = "small-cnn",
                   train_config: TrainConfig = TrainConfig(), manifest: Manifest | None = None,
                   methods=METHODS, cache_dir: Path | None = None, device: str = "cpu",
                   progress: bool = True, force: bool = False, model: torch.nn.Module | None = None,
                   model_meta: dict | None = None, figures: bool = True, model_kwargs: dict | None = None) -> dict:
    """One code length end to end; writes manifest.json, results.json, table.md and table.csv into `out_dir`,
    and (unless `figures` is False) curves.json, examples.npz and figures/ (see `hashattack.reporting.run_figures`).

    A given `manifest` replaces the random draw of queries, targets and anchors (an exact re-run).
    A given `model` (any module returning K reals per input, pixels in [0, 1]) is attacked as it
    is instead of training `architecture`; `model_meta` describes it in results.json (its
    "sha256", when given, ties the run folder to those weights).
    The run is resumable (see `hashattack.protocol.runfolder`): every finished batch is kept in
    `out_dir/batches/`, and calling again with the same settings attacks only the batches still
    missing. A folder that holds a run with other settings is refused unless `force` (start over).
    Wall-clock times go to timing.json, so results.json and the tables are byte-identical between
    an interrupted-and-resumed run and an uninterrupted one.
    `model_kwargs` go to the architecture's factory (e.g. a video model's pretrained frame encoder).
    """
    out_dir = Path(out_dir)
    device = distributed.setup(device)   # under torchrun: join the process group; this rank's device
    progress = progress and distributed.is_main()
    if manifest is None:
        manifest = plan(dataset, num_queries, settings.n_t, seed)
    else:
        check_manifest(manifest, dataset.query.labels, dataset.database.labels, settings.n_t)
    if model is None:
        with distributed.main_first():   # rank 0 trains and caches the model, the others load it
            model, model_meta = trained_model(dataset, architecture, bits, train_config, cache_dir, device, progress,
                                              model_kwargs=model_kwargs)
    else:
        model, model_meta = model.to(device).eval(), dict(model_meta or {})
    for method in methods:   # an unknown method or an out-of-range eps is refused before the folder is touched
        build_attack(method, model, settings, seed=manifest.seed)
    db_codes = distributed.encode_sharded(model, dataset.database, device=device, progress=progress,
                                          desc="encode database")
    writes = distributed.is_main()       # under torchrun rank 0 writes the run's files; each rank its batches
    folder = RunFolder(out_dir, run_fingerprint(dataset, bits, architecture, train_config, settings, methods,
                                                manifest, device, **({"model": model_kwargs} if model_kwargs else {})),
                       force=force and writes)
    with distributed.main_first():       # rank 0 claims (or clears) the folder before the others check it
        folder.check()
        if writes:
            folder.start(model_meta.get("sha256"))
            manifest.save(out_dir / "manifest.json")
    results = run_methods(model, dataset, db_codes, manifest, settings, methods, device, progress, store=folder)
    record = {
        "dataset": dataset.name,
        "protocol": dataset.protocol,
        "bits": bits,
        "architecture": architecture,
        "model": {k: v for k, v in model_meta.items() if k not in ("loss_history", "train_seconds")},
        "settings": asdict(settings),
        "conventions": conventions(settings),
        "num_queries": len(manifest),
        "seed": manifest.seed,
        "methods": results,
        "summary": summary_row(bits, results),
    }
    if writes:
        atomic_write_json(out_dir / "results.json", record)
    header, body = table1([record["summary"]])
    caption = (f"t-MAP / MAP (%) on {dataset.name}, {len(manifest)} queries, eps = {settings.eps} "
               f"({settings.eps_space} space), {settings.steps} steps, n_t = {settings.n_t}, "
               f"{conventions(settings)['map']}, zero-relevance queries: {settings.zero_relevance}.")
    record["table"] = write_table(out_dir, header, body, caption=caption) if writes else None
    record["timing"] = folder.timing(model_meta.get("train_seconds"))   # under torchrun: this rank's batches
    if writes:
        atomic_write_json(out_dir / "timing.json", record["timing"])
    if figures and writes:
        from hashattack.reporting.run_figures import write_run_figures
        with distributed.solo():          # rank 0 alone draws the figures
            write_run_figures(out_dir, model, dataset, db_codes, manifest, settings, results, device, progress)
    return record


__all__ = ["run_experiment", "AttackSettings", "METHODS", "ALL_METHODS", "trained_model", "build_attack",
           "anchor_codes_for", "attack_targets", "attack_batch", "attack_in_batches", "attacked_batches", "run_methods",
           "codes_from_records", "perceptibility_from_records", "plan", "conventions", "summary_row",
           "default_cache_dir", "codes_to_hex"]
