"""The black-box audit: attacks crafted on a surrogate the auditor owns, measured through a search service.

The auditor has a search endpoint, not the victim's codes: the surrogate encodes the auditor's own database,
each query's anchor is voted from it (DHTA, n_t objects of the target label), the attack runs on the
surrogate, and the benign and adversarial queries are sent to the service as 8-bit PNGs. t-MAP and the
benign MAP come from the labels the service returns; the surrogate's own (white-box) t-MAP is kept beside.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from hashattack.attacks.registry import build_attack
from hashattack.errors import InputError
from hashattack.files import atomic_write_json, atomic_write_text
from hashattack.models.encode import encode_set
from hashattack.protocol.engine import plan
from hashattack.protocol.export import to_8bit
from hashattack.protocol.scoring import targets_for
from hashattack.protocol.service import black_box_scores, service_url
from hashattack.protocol.sources import obtain_model, open_data
from hashattack.protocol.model_sources import ModelSource
from hashattack.protocol.spec import RunSpec
from hashattack.retrieval.metrics import average_precisions, mean_of_average_precisions
from hashattack.run_format import AUDIT_FILE, MANIFEST_FILE, TABLE_FILE


def black_box_audit(spec: RunSpec, surrogate: ModelSource, url: str) -> dict:
    """Craft DHTA on `surrogate`, send every query to the service at `url` (loopback), write
    `<out>/service_audit.json`, `<out>/manifest.json` and `<out>/table.md`; return the record."""
    base = service_url(url)
    spec = spec.resolved()
    controls = spec.controls
    out = Path(controls.out)
    if (out / AUDIT_FILE).exists() and not controls.force:
        raise InputError(f"{out / AUDIT_FILE} exists: give --force to measure again, or another --out")
    source = open_data(spec.data, spec.seed)
    dataset, settings, device = source.dataset, spec.attack, controls.device
    if dataset.query.pixels(slice(0, 1)).dim() != 4:
        raise InputError(f"the service audit sends one image per query, not {dataset.name}'s clips")
    model, meta = obtain_model(surrogate, spec.data, source, device, controls.progress)
    db_codes = encode_set(model, dataset.database, device=device, progress=controls.progress, desc="encode database")
    manifest = plan(spec, source)
    anchors, targets = targets_for("DHTA", manifest, dataset, db_codes, settings.n_t)
    attack = build_attack("DHTA", model, **settings.attack_options(manifest.seed))
    attack.progress = controls.progress
    ids = torch.tensor(manifest.query_ids)
    images = dataset.query.pixels(ids)
    adversarial = torch.cat([attack(images[i:i + settings.batch_size].to(device),
                                    targets[i:i + settings.batch_size].to(device)).cpu()
                             for i in range(0, len(images), settings.batch_size)])
    sent_pixels = torch.from_numpy(_eight_bit_batch(adversarial))   # what the PNGs hold
    target_labels = torch.from_numpy(manifest.targets(settings.n_t)).to(torch.float32)
    true_labels = dataset.query.labels[ids]
    if true_labels.dim() == 1:
        true_labels = torch.nn.functional.one_hot(true_labels.to(torch.int64), target_labels.shape[1]).float()
    scores = black_box_scores(base, images, sent_pixels, true_labels, target_labels, settings.zero_relevance)
    surrogate_t_ap = average_precisions(encode_set(model, sent_pixels, device=device, progress=False), db_codes,
                                        target_labels, dataset.database.labels, topk=settings.depth)
    record = {"kind": "black-box audit through a search service", "dataset": dataset.name,
              "num_queries": len(manifest), "surrogate": {k: v for k, v in meta.items() if k != "loss_history"},
              "method": "DHTA", "settings": asdict(settings),
              "t_map_surrogate": mean_of_average_precisions(surrogate_t_ap, settings.zero_relevance), **scores}
    out.mkdir(parents=True, exist_ok=True)
    manifest.save(out / MANIFEST_FILE)
    atomic_write_json(out / AUDIT_FILE, record)
    atomic_write_text(out / TABLE_FILE, table(record))
    return record


def _eight_bit_batch(pixels: torch.Tensor):
    """Pixels (B, C, H, W) on the 8-bit grid as a float32 array in [0, 1] (what a PNG of each stores)."""
    grid = [to_8bit(p) for p in pixels]
    array = np.stack([g[None] if g.ndim == 2 else g.transpose(2, 0, 1) for g in grid]).astype(np.float32) / 255
    return array


def table(record: dict) -> str:
    """The audit's table: t-MAP through the service, the surrogate's own, the benign MAP, queries sent."""
    pct = lambda v: f"{100 * v:.2f}"
    return (f"Black-box audit of {record['service']} on {record['dataset']}, {record['num_queries']} queries, "
            f"DHTA crafted on the surrogate, sent as 8-bit PNGs; {record['queries_sent']} HTTP queries.\n\n"
            "| measure | value (%) |\n| --- | --- |\n"
            f"| t-MAP through the service | {pct(record['t_map'])} |\n"
            f"| t-MAP on the surrogate (white-box on the surrogate) | {pct(record['t_map_surrogate'])} |\n"
            f"| benign MAP through the service | {pct(record['map'])} |\n")


__all__ = ["black_box_audit", "table"]
