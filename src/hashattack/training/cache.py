"""The trained-model cache: a model trained once per (dataset, architecture, bits, settings), then reused.

Cached models are ordinary checkpoints (`training.checkpoints`): a `state_dict` file and its JSON
metadata, named `<dataset>-<architecture>-<bits>bits-<key>.pt` under `$HASHATTACK_CACHE` (default
`~/.cache/hashattack`). The key is the SHA-256 of everything the weights depend on.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch

from hashattack.data.base import RetrievalDataset
from hashattack.models import create_model
from hashattack.training.checkpoints import load_checkpoint, metadata_path, save_checkpoint
from hashattack.training.loop import TrainConfig, train_model


def default_cache_dir() -> Path:
    """Where trained default models are cached: $HASHATTACK_CACHE or ~/.cache/hashattack."""
    return Path(os.environ.get("HASHATTACK_CACHE", Path.home() / ".cache" / "hashattack"))


def train_new_model(dataset: RetrievalDataset, architecture: str, bits: int, config: TrainConfig,
                    device: str = "cpu", progress: bool = True, model_kwargs: dict | None = None):
    """A new model trained on `dataset.train` -> (model, metadata to save with it). Its initial weights
    come from the training seed, not the global random state, so a run is reproducible."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = create_model(architecture, bits, **(model_kwargs or {}))
    started = time.perf_counter()
    history = train_model(model, dataset.train, config, device=device, progress=progress)
    meta = {"dataset": dataset.name, "protocol": dataset.protocol, "train": config.as_dict(),
            "loss_history": history, "metrics": {"final_train_loss": history[-1]},
            "train_seconds": round(time.perf_counter() - started, 1)}
    return model, meta


def trained_model(dataset: RetrievalDataset, architecture: str, bits: int, config: TrainConfig,
                  cache_dir: Path | None = None, device: str = "cpu", progress: bool = True,
                  model_kwargs: dict | None = None):
    """A model trained on `dataset.train` with `config`, from the cache when an identical one exists.

    Returns (model in eval mode, checkpoint metadata). The cache key covers the dataset and its
    protocol, the architecture, bits and every training setting.
    """
    model_kwargs = model_kwargs or {}
    key_source = json.dumps({"dataset": dataset.name, "protocol": dataset.protocol, "architecture": architecture,
                             "bits": bits, "train": config.as_dict(), "model": model_kwargs}, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()[:12]
    path = Path(cache_dir or default_cache_dir()) / f"{dataset.name}-{architecture}-{bits}bits-{key}.pt"
    if not (path.is_file() and metadata_path(path).is_file()):   # weights without metadata: a killed save
        model, meta = train_new_model(dataset, architecture, bits, config, device, progress, model_kwargs)
        save_checkpoint(path, model.cpu(), meta)
    model, meta = load_checkpoint(path, architecture=architecture, bits=bits)
    return model.to(device), meta | {"path": str(path)}


__all__ = ["trained_model", "train_new_model", "default_cache_dir"]
