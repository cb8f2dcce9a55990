"""Attack a manifest's queries with each method and score them: t-MAP against the target label, MAP
against the queries' own labels (the benign queries' MAP, and how far an attack makes results drop),
perceptibility, distance to the anchor (targeted methods) or to the benign code (the others)."""

from __future__ import annotations

import numpy as np
import torch

from hashattack.attacks.registry import build_attack, method
from hashattack.data.base import RetrievalDataset
from hashattack.errors import InputError
from hashattack.models.inputs import model_inputs
from hashattack.protocol.attacking import attacked_batches, codes_from_records, perceptibility_from_records
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.targets import Manifest
from hashattack.reporting.tables import summary_values
from hashattack.retrieval.codes import anchor_code, hamming_distance
from hashattack.retrieval.metrics import (ZERO_RELEVANCE, average_precisions, mean_of_average_precisions,
                                         ranked_average_precisions, summarize_perceptibility)
from hashattack.retrieval.ranking import HammingIndex


def targets_for(name: str, manifest: Manifest, dataset: RetrievalDataset, db_codes: torch.Tensor,
                n_t: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(anchor codes, what the attack is called with) of method `name`: anchors voted from the manifest's
    objects for targeted methods, the first object's pixels for the feature attack, (None, None) otherwise."""
    entry = method(name)
    size = entry.anchor_objects(n_t)
    if size is None:
        return None, None
    if size not in manifest.anchor_ids:
        raise InputError(f"the manifest holds no anchors for n_t = {size} (it has {sorted(manifest.anchor_ids)})")
    ids = torch.tensor(manifest.anchor_ids[size])
    anchors = anchor_code(db_codes[ids])
    if entry.target == "object":
        return anchors, dataset.database.pixels(ids[:, 0])
    return anchors, anchors


def run_methods(model: torch.nn.Module, dataset: RetrievalDataset, db_codes: torch.Tensor, manifest: Manifest,
                settings: AttackSettings, methods, device: str = "cpu", progress: bool = True,
                store=None, index: HammingIndex | None = None) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Attack the manifest's queries with each method and score them.

    Returns (JSON-able results per method, adversarial codes per method, adversarial pixels of the first
    queries per method). `store` (a `RunFolder`) keeps each finished batch and skips those already there.
    `index` (a search engine over `db_codes`): t-MAP and MAP are scored on what it returns, and the exact
    ranking's figures are kept beside them under "exact".
    """
    def score(codes: torch.Tensor, labels) -> np.ndarray:
        if index is None:
            return average_precisions(codes, db_codes, labels, db_labels, topk=settings.depth)
        return engine_average_precisions(index, codes, labels, db_labels, settings.depth)

    query_ids = torch.tensor(manifest.query_ids)
    images = dataset.query.pixels(query_ids)
    inputs = model_inputs(dataset.query, query_ids)   # e.g. the frame counts of padded videos
    true_labels = dataset.query.labels[query_ids]
    db_labels = dataset.database.labels
    results, all_codes, examples = {}, {}, {}
    for name in methods:
        attack = build_attack(name, model, **settings.attack_options(manifest.seed))
        attack.progress = progress
        anchors, targets = targets_for(name, manifest, dataset, db_codes, settings.n_t)
        size = method(name).anchor_objects(settings.n_t)   # the targets of its anchor size (official protocol)
        target_labels = torch.from_numpy(manifest.targets(settings.n_t if size is None else size))
        records, examples[name] = attacked_batches(name, attack, model, images, targets, manifest.query_ids,
                                                   settings.batch_size, store, device, progress, inputs=inputs)
        codes = all_codes[name] = codes_from_records(records)
        t_ap = score(codes, target_labels)
        entry = {
            "t_map": mean_of_average_precisions(t_ap, settings.zero_relevance),
            "t_map_by_convention": both_conventions(t_ap),
            "t_ap": json_floats(t_ap),
            "attack": attack.settings(),
            "perceptibility": summarize_perceptibility(perceptibility_from_records(records)),
            "codes": [code for record in records for code in record["codes"]],
        }
        if anchors is not None:
            entry["anchor_hamming"] = hamming_distance(codes, anchors).diagonal().tolist()
        elif name != "Original" and "Original" in all_codes:
            entry["benign_hamming"] = hamming_distance(codes, all_codes["Original"]).diagonal().tolist()
        ap = score(codes, true_labels)
        entry["map"] = mean_of_average_precisions(ap, settings.zero_relevance)
        if index is not None:
            entry["exact"] = {name: mean_of_average_precisions(average_precisions(
                codes, db_codes, labels, db_labels, topk=settings.depth), settings.zero_relevance)
                for name, labels in (("t_map", target_labels), ("map", true_labels))}
        entry["map_by_convention"] = both_conventions(ap)
        entry["ap"] = json_floats(ap)
        entry["scored_by"] = method(name).scored_by
        results[name] = entry
    return results, all_codes, examples


def engine_average_precisions(index: HammingIndex, codes: torch.Tensor, labels, db_labels, topk: int) -> np.ndarray:
    """Per-query APs over the top `topk` items a search engine `index` returns for `codes`."""
    indices, _ = index.search(codes.cpu(), topk)
    return ranked_average_precisions(indices, labels, db_labels)


def both_conventions(aps: np.ndarray) -> dict[str, float]:
    """The MAP of per-query APs under each zero-relevance convention ({"zero": …, "drop": …})."""
    return {convention: mean_of_average_precisions(aps, convention) for convention in ZERO_RELEVANCE}


def json_floats(values: np.ndarray) -> list:
    return [None if np.isnan(v) else round(float(v), 6) for v in values]


def summary_row(bits: int, results: dict, zero_relevance: str = "zero") -> dict:
    """The numbers of one run for the paper's table layout: every method's t-MAP, and the MAP of the methods
    scored by it (Original's benign MAP, the MAP under the untargeted attack), under the main convention
    `zero_relevance` and beside it the other one."""
    return {"bits": bits, **summary_values(results, list(results), zero_relevance)}


__all__ = ["run_methods", "engine_average_precisions", "targets_for", "summary_row", "json_floats", "both_conventions"]
