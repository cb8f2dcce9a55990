"""What identifies a run: the settings fingerprint a run folder is bound to (see `protocol.runfolder`)."""

from __future__ import annotations

import hashlib
import json

import torch

from hashattack.data.base import RetrievalDataset
from hashattack.files import strict_json
from hashattack.protocol.targets import Manifest


def canonical(obj) -> object:
    """`obj` as it reads back from JSON (tuples become lists, keys strings, non-finite floats None),
    for comparisons."""
    return json.loads(strict_json(obj, sort_keys=True))


def digest(obj) -> str:
    """SHA-256 of the canonical (strict, key-sorted, compact) JSON of `obj`."""
    return hashlib.sha256(strict_json(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


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


def differences(old, new, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, e.g. ['settings.eps: 0.1 -> 0.2']."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(f"{path}: {old.get(key, '(absent)')} -> {new.get(key, '(absent)')}")
            else:
                out.extend(differences(old[key], new[key], path))
        return out
    if old != new:
        show = lambda v: (json.dumps(v) if len(json.dumps(v)) <= 40 else json.dumps(v)[:37] + "...")
        return [f"{prefix or 'value'}: {show(old)} -> {show(new)}"]
    return []


__all__ = ["canonical", "digest", "dataset_fingerprint", "run_fingerprint", "differences"]
