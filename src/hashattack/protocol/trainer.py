"""A hashing model trained here, plainly or adversarially, through the trained-model cache.

    model, meta = trained_model(dataset, "small-cnn", 32, TrainConfig())        # trained once, then cached
    model, meta = trained_model(dataset, "small-cnn", 32, TrainConfig(), adversarial=AdversarialTraining())

The cache's names, keys and checks are `training.cache`'s; the adversarial loop is
`protocol.adversarial_training`'s.
"""

from __future__ import annotations

import time
from pathlib import Path

from hashattack.data.base import RetrievalDataset
from hashattack.protocol.adversarial_training import adversarial_train
from hashattack.training.adversarial import AdversarialTraining
from hashattack.training.cache import cached_path, load_cached, new_model, training_record
from hashattack.training.checkpoints import save_checkpoint
from hashattack.training.loop import TrainConfig, train_model


def train_new_model(dataset: RetrievalDataset, architecture: str, bits: int, config: TrainConfig,
                    device: str = "cpu", progress: bool = True, model_kwargs: dict | None = None,
                    adversarial: AdversarialTraining | None = None):
    """A new model trained on `dataset.train` -> (model, metadata to save with it); with `adversarial`, trained
    adversarially, the metadata recording the settings under "adversarial"."""
    model = new_model(dataset, architecture, bits, config, model_kwargs)
    started = time.perf_counter()
    if adversarial is None:
        history = train_model(model, dataset.train, config, device=device, progress=progress)
    else:
        history = adversarial_train(model, dataset.train, config, adversarial, device, progress)
    return model, training_record(dataset, config, history, time.perf_counter() - started, adversarial)


def trained_model(dataset: RetrievalDataset, architecture: str, bits: int, config: TrainConfig,
                  cache_dir: Path | None = None, device: str = "cpu", progress: bool = True,
                  model_kwargs: dict | None = None, adversarial: AdversarialTraining | None = None):
    """(model in eval mode, checkpoint metadata) trained on `dataset.train` with `config` (adversarially with
    `adversarial`), from the cache when an identical one exists. The cache key covers the dataset and its
    protocol, the architecture, bits, every training setting and the adversarial training settings."""
    path = cached_path(dataset, architecture, bits, config, cache_dir, model_kwargs, adversarial)
    cached = load_cached(path, dataset, architecture, bits, device)
    if cached is None:
        model, meta = train_new_model(dataset, architecture, bits, config, device, progress, model_kwargs, adversarial)
        save_checkpoint(path, model.cpu(), meta)
        cached = load_cached(path, dataset, architecture, bits, device)
    return cached


__all__ = ["train_new_model", "trained_model"]
