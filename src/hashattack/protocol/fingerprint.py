"""What identifies a run: the settings fingerprint a run folder is bound to (see `protocol.runfolder`)."""

from __future__ import annotations

import hashlib
import json

import torch

from hashattack.data.base import RetrievalDataset
from hashattack.protocol.targets import Manifest


def canonical(obj) -> object:
    """`obj` as it reads back from JSON (tuples become lists, keys strings), for comparisons."""
    return json.loads(json.dumps(obj, sort_keys=True))


def digest(obj) -> str:
    """SHA-256 of the canonical JSON of `obj`."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def dataset_fingerprint(dataset: RetrievalDataset, query_ids: list[int]) -> dict:
    """What identifies a dataset cheaply: name, protocol, sizes, every label and id, and the
    pixels of the attacked queries (so another copy of the data with other images is noticed)."""
    labels = hashlib.sha256()
    for part in (dataset.train, dataset.database, dataset.query):
        labels.update(part.labels.contiguous().numpy().tobytes())
        labels.update(part.ids.contiguous().numpy().tobytes())
    pixels = dataset.query.pixels(torch.tensor(query_ids)).contiguous().numpy().tobytes()
    return {"name": dataset.name, "protocol": dataset.protocol,
            "sizes": [len(dataset.train), len(dataset.database), len(dataset.query)],
            "labels_sha256": labels.hexdigest(), "query_pixels_sha256": hashlib.sha256(pixels).hexdigest()}


def run_fingerprint(dataset: RetrievalDataset, manifest: Manifest, model: dict, settings: dict, methods,
                    device: str = "cpu", export: bool = False) -> dict:
    """Every setting that decides a run's results; two runs may share a folder only if these are equal.

    `model` identifies the attacked model (its source, architecture, bits, training settings or
    weights digest); `settings` are the attack and evaluation settings (JSON-able); `export`: the
    run writes its adversarial queries as PNG files (a run without them cannot resume into one with them).
    """
    return ({"export": True} if export else {}) | {
        "dataset": dataset_fingerprint(dataset, manifest.query_ids),
        "model": model,
        "settings": settings,
        "methods": list(methods),
        "manifest_sha256": digest(manifest.to_json()),
        "device": torch.device(device).type,
    }


__all__ = ["canonical", "digest", "dataset_fingerprint", "run_fingerprint"]
