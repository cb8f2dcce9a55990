"""The trained-model cache: a model trained once per (dataset, architecture, bits, settings, adversarial
training settings), then reused.

This module names, keys and reads the cached models; `protocol.trainer.trained_model` trains one
(plainly or adversarially) when the cache has none.

Cached models are ordinary checkpoints (`training.checkpoints`): a `state_dict` file and its JSON
metadata, named `<dataset>-<architecture>-<bits>bits-<key>.pt` under `$HASHATTACK_CACHE` (default
`~/.cache/hashattack`). The key is the SHA-256 of everything the weights depend on, the training
data's content among them (`data_fingerprint`): a model trained on a copy of a dataset with other
images is never reused for the real one. The real Fashion-MNIST's default training set keeps the
key it had before the fingerprint entered it (`LEGACY_FINGERPRINTS`), so models already cached for
it stay valid; any other data adds its fingerprint to the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from hashattack.data.base import RetrievalDataset
from hashattack.errors import InputError
from hashattack.models import create_model
from hashattack.models.inputs import check_accepts
from hashattack.training.adversarial import AdversarialTraining
from hashattack.training.checkpoints import load_checkpoint, metadata_path, read_metadata
from hashattack.training.loop import TrainConfig


# The real Fashion-MNIST's default training set (2,000 per class, seed 0): its models were cached
# under keys without a fingerprint, which stay as they were.
LEGACY_FINGERPRINTS = frozenset({"598ca89a80940f8581ed6a9dd1ce35b506c046b9cc7fc80aaf48f45641284fe7"})


def data_fingerprint(objects) -> str:
    """SHA-256 of a training set's content: its labels and its pixels (uint8, hashed as stored), or, for
    objects read from files on demand, each file's path, size and modification time."""
    digest = hashlib.sha256()
    digest.update(objects.labels.contiguous().numpy().tobytes())
    videos = getattr(objects, "videos", None)
    stored = videos if videos is not None else getattr(objects, "images", None)
    if isinstance(stored, torch.Tensor):
        digest.update(f"{tuple(stored.shape)} {stored.dtype}".encode())
        digest.update(stored.contiguous().numpy().data)
        lengths = getattr(objects, "lengths", None)
        if isinstance(lengths, torch.Tensor):
            digest.update(lengths.contiguous().numpy().tobytes())
        return digest.hexdigest()
    for path in (stored if isinstance(stored, list) else getattr(objects, "paths", ())):
        try:
            stat = Path(path).stat()
        except OSError as exc:
            raise InputError(f"training file {path} cannot be read ({exc.strerror})") from None
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """Where trained default models are cached: $HASHATTACK_CACHE or ~/.cache/hashattack."""
    return Path(os.environ.get("HASHATTACK_CACHE", Path.home() / ".cache" / "hashattack"))


def new_model(dataset: RetrievalDataset, architecture: str, bits: int, config: TrainConfig,
              model_kwargs: dict | None = None) -> torch.nn.Module:
    """A new, untrained model for `dataset.train`. Its initial weights come from the training seed, not
    the global random state, so a run is reproducible."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = create_model(architecture, bits, **(model_kwargs or {}))
    check_accepts(model, dataset.train, f"a new {architecture} model")
    return model


def training_record(dataset: RetrievalDataset, config: TrainConfig, history: list[float], seconds: float,
                    adversarial: AdversarialTraining | None = None) -> dict:
    """The metadata saved with a model trained on `dataset.train` (adversarial settings under "adversarial")."""
    meta = {"dataset": dataset.name, "protocol": dataset.protocol, "train": config.as_dict(),
            "train_data": {"objects": len(dataset.train), "sha256": data_fingerprint(dataset.train)},
            "loss_history": history, "metrics": {"final_train_loss": history[-1]},
            "train_seconds": round(seconds, 1)}
    if adversarial is not None:
        meta["adversarial"] = adversarial.as_dict()
    return meta


def cache_key(dataset: RetrievalDataset, architecture: str, bits: int, config: TrainConfig, model_kwargs: dict,
              adversarial: AdversarialTraining | None = None, fingerprint: str | None = None) -> str:
    """The cache key: a hash of everything the weights depend on (adversarial settings only when given,
    so the keys of models trained without them stay as they were; the training data's fingerprint
    unless it is a legacy one)."""
    fingerprint = fingerprint or data_fingerprint(dataset.train)
    source = {"dataset": dataset.name, "protocol": dataset.protocol, "architecture": architecture,
              "bits": bits, "train": config.as_dict(), "model": model_kwargs}
    if fingerprint not in LEGACY_FINGERPRINTS:
        source["data"] = fingerprint
    if adversarial is not None:
        source["adversarial"] = adversarial.as_dict()
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:12]


def cached_path(dataset: RetrievalDataset, architecture: str, bits: int, config: TrainConfig,
                cache_dir: Path | None = None, model_kwargs: dict | None = None,
                adversarial: AdversarialTraining | None = None) -> Path:
    """Where the model of these settings is cached: `<dataset>-<architecture>-<bits>bits[-adv-<method>]-<key>.pt`."""
    key = cache_key(dataset, architecture, bits, config, model_kwargs or {}, adversarial)
    kind = f"-adv-{adversarial.method}" if adversarial is not None else ""
    return Path(cache_dir or default_cache_dir()) / f"{dataset.name}-{architecture}-{bits}bits{kind}-{key}.pt"


def load_cached(path: Path, dataset: RetrievalDataset, architecture: str, bits: int, device: str = "cpu"):
    """(model, metadata) cached at `path`, or None when it is absent, half-written (weights without
    metadata: a killed save) or trained on other data than `dataset.train`."""
    if not (path.is_file() and metadata_path(path).is_file() and _trained_on(path, data_fingerprint(dataset.train))):
        return None
    model, meta = load_checkpoint(path, architecture=architecture, bits=bits)
    check_accepts(model, dataset.train, f"the cached model {path}")
    return model.to(device), meta | {"path": str(path)}


def _trained_on(path: Path, fingerprint: str) -> bool:
    """False when the cached model's metadata records another training set than `fingerprint`
    (a legacy model records none)."""
    recorded = read_metadata(path).get("train_data", {}).get("sha256")
    return recorded is None or recorded == fingerprint


__all__ = ["new_model", "training_record", "cached_path", "load_cached", "cache_key", "data_fingerprint", "default_cache_dir",
           "LEGACY_FINGERPRINTS"]
