"""Attack a manifest's queries with each method and score them: t-MAP against the target label, MAP
against the queries' own labels (the benign queries' MAP, and how far an attack makes results drop),
perceptibility, distance to the anchor (targeted methods) or to the benign code (the others)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from hashattack.attacks.base import Attack
from hashattack.attacks.registry import build_attack, method
from hashattack.data.base import RetrievalDataset
from hashattack.models.inputs import model_inputs
from hashattack.protocol.attacking import Finish, attacked_batches, codes_from_records, perceptibility_from_records
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.targets import Manifest
from hashattack.reporting.tables import summary_values
from hashattack.retrieval.codes import hamming_distance
from hashattack.retrieval.metrics import (ZERO_RELEVANCE, average_precisions, mean_of_average_precisions,
                                         ranked_average_precisions, summarize_perceptibility)
from hashattack.retrieval.ranking import HammingIndex


def targets_for(name: str, manifest: Manifest, dataset: RetrievalDataset, db_codes: torch.Tensor,
                n_t: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(anchor codes, what the attack is called with) of method `name` on the manifest's queries, as its
    registry entry says (`attacks.registry.Method.targets`)."""
    return method(name).targets(manifest.anchor_ids, n_t, db_codes, dataset.database.pixels,
                                dataset.query.labels[torch.tensor(manifest.query_ids)], dataset.database.labels)


def build_attacks(methods, model: torch.nn.Module, settings: AttackSettings, seed: int,
                  progress: bool = False) -> dict[str, Attack]:
    """Each method's attack object, built once per run point; settings an attack refuses (a normalized
    eps beyond [0, 1] for this model) fail here, before anything is attacked or written."""
    attacks = {name: build_attack(name, model, **settings.attack_options(seed)) for name in methods}
    for attack in attacks.values():
        attack.progress = progress
    return attacks


def run_methods(model: torch.nn.Module, dataset: RetrievalDataset, db_codes: torch.Tensor, manifest: Manifest,
                settings: AttackSettings, attacks: Mapping[str, Attack], device: str = "cpu", progress: bool = True,
                store=None, index: HammingIndex | None = None,
                finish: Finish = Finish()) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Attack the manifest's queries with each method's built attack (`build_attacks`, in order) and score them.

    Returns (JSON-able results per method, adversarial codes per method, adversarial pixels of the first
    queries per method). `store` (a `RunFolder`) keeps each finished batch and skips those already there;
    `finish`: each batch's post-processing (8-bit grid, PNG files). `index` (a search engine over
    `db_codes`): t-MAP and MAP are scored on what it returns, and the exact ranking's figures are kept
    beside them under "exact".
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
    benign = None   # the codes of the method whose result is the benign query, once it has run
    for name, attack in attacks.items():
        entry = method(name)
        anchors, targets = targets_for(name, manifest, dataset, db_codes, settings.n_t)
        target_labels = torch.from_numpy(manifest.targets(entry.target_size(settings.n_t)))   # (official protocol)
        records, examples[name] = attacked_batches(name, attack, model, images, targets, manifest.query_ids,
                                                   settings.batch_size, store, device, progress, inputs=inputs,
                                                   finish=finish)
        codes = all_codes[name] = codes_from_records(records)
        t_ap = score(codes, target_labels)
        result = {
            "t_map": mean_of_average_precisions(t_ap, settings.zero_relevance),
            "t_map_by_convention": both_conventions(t_ap),
            "t_ap": json_floats(t_ap),
            "attack": attack.settings(),
            "perceptibility": summarize_perceptibility(perceptibility_from_records(records)),
            "codes": [code for record in records for code in record["codes"]],
        }
        if anchors is not None:
            result["anchor_hamming"] = hamming_distance(codes, anchors).diagonal().tolist()
        elif not entry.benign and benign is not None:
            result["benign_hamming"] = hamming_distance(codes, benign).diagonal().tolist()
        if entry.benign:
            benign = codes
        ap = score(codes, true_labels)
        result["map"] = mean_of_average_precisions(ap, settings.zero_relevance)
        if index is not None:
            result["exact"] = {name: mean_of_average_precisions(average_precisions(
                codes, db_codes, labels, db_labels, topk=settings.depth), settings.zero_relevance)
                for name, labels in (("t_map", target_labels), ("map", true_labels))}
        result["map_by_convention"] = both_conventions(ap)
        result["ap"] = json_floats(ap)
        result["scored_by"] = entry.scored_by
        results[name] = result
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


__all__ = ["run_methods", "build_attacks", "engine_average_precisions", "targets_for", "summary_row", "json_floats", "both_conventions"]
