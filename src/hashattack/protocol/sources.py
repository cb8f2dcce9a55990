"""Turn a spec's data and model parts into a dataset and a model.

`open_data(DataSpec)` gives a `Source`: the dataset its registry entry opens (`data.registry`), and
for open-set runs the query pool and the target filter. `default_architecture` / `default_train_config`
are the model a dataset trains by default (its entry) and that architecture's recipe.
`obtain_model(ModelSpec, source)` trains (cached), loads a checkpoint written by `hashattack train`,
or builds a user's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch.hub

from hashattack.attacks.registry import build_attack
from hashattack.data.base import RetrievalDataset
from hashattack.data.registry import dataset_entry
from hashattack.errors import InputError
from hashattack.models.inputs import check_accepts
from hashattack.models.torchvision_hash import resolve_weights, weights_file_name
from hashattack.models.user import code_length, load_user_model
from hashattack.models.video import alexnet_weights_path
from hashattack.protocol.open_set import open_set_split
from hashattack.protocol.spec import DataSpec, ModelSpec
from hashattack.training.cache import trained_model
from hashattack.training.checkpoints import load_checkpoint, sha256_of
from hashattack.training.frame_pretraining import FramePretraining, pretrained_frame_encoder
from hashattack.training.loop import PAPER_TRAIN_CONFIG, TrainConfig

VIDEO_EPOCHS = 200
PAPER_BITS = (16, 32, 48, 64)
TORCHVISION = ("vgg11", "vgg16", "resnet50")


@dataclass
class Source:
    """A dataset ready to attack, with the open-set restrictions when the spec asks for them."""

    dataset: RetrievalDataset
    query_pool: np.ndarray | None = None               # queries are drawn from these (None: all)
    target_filter: Callable | None = None              # a target label vector is allowed when True
    manifest_extra: dict = field(default_factory=dict)
    note: str = ""                                     # what a table caption should add


def open_data(spec: DataSpec, seed: int = 0) -> Source:
    """The dataset of `spec` (and its open-set restriction); `seed` splits user images and videos."""
    dataset = spec.entry.open(spec, seed)
    if spec.seen_classes is None:
        return Source(dataset)
    split = open_set_split(dataset, spec.seen_classes)
    return Source(split.dataset, split.query_ids, split.is_unseen,
                  {"seen_classes": split.seen, "unseen_classes": split.unseen}, split.note)


def default_architecture(dataset: str) -> str:
    """The architecture trained on `dataset` when none is given (its registry entry's)."""
    return dataset_entry(dataset).architecture


def default_train_config(dataset: str, architecture: str) -> TrainConfig:
    """Appendix B's optimisers: VGG on images (lr 0.01, batch 24), SGD lr 0.05 / batch 100 / weight decay
    1e-4 with the DVH loss on videos; the other architectures (the small CNN, LeNet) train with the
    dataset's recipe (its entry's `train`: HashNet's loss on the multi-label mosaics), else TrainConfig's."""
    if architecture.startswith("lstm-"):
        return TrainConfig(epochs=VIDEO_EPOCHS, batch_size=100, lr=0.05, momentum=0.9, weight_decay=1e-4, loss="dvh")
    if architecture in TORCHVISION:
        return PAPER_TRAIN_CONFIG
    return TrainConfig(**dataset_entry(dataset).train)


def architecture_of(spec: ModelSpec, data: DataSpec) -> str:
    return spec.architecture or default_architecture(data.dataset)


def train_config_of(spec: ModelSpec, data: DataSpec) -> TrainConfig:
    return spec.train or default_train_config(data.dataset, architecture_of(spec, data))


def model_kwargs(spec: ModelSpec, data: DataSpec, progress: bool = True) -> dict:
    """The architecture's factory arguments: ImageNet weights of a backbone, the pretrained frame encoder."""
    architecture = architecture_of(spec, data)
    if architecture in TORCHVISION:
        if spec.random_init:
            if spec.weights is not None:
                raise InputError("give either --weights or --random-init, not both")
            return {}
        weights = spec.weights
        if weights is None:
            cache = Path(torch.hub.get_dir()) / "checkpoints" / weights_file_name(architecture)
            if not cache.is_file():
                raise InputError(f"{architecture} needs ImageNet weights: {cache} does not exist (no download is "
                                 f"possible); give --weights FILE-or-FOLDER holding {cache.name}, or --random-init")
            weights = cache
        return {"weights": str(resolve_weights(architecture, weights))}
    if spec.weights is not None and architecture != "lstm-alexnet" or spec.random_init:
        raise InputError(f"--weights / --random-init apply to the ImageNet backbones ({', '.join(TORCHVISION)}, "
                         f"lstm-alexnet), not {architecture}")
    if architecture == "lstm-alexnet":
        if spec.weights is None:
            raise InputError("lstm-alexnet needs --weights: torchvision's ImageNet AlexNet weights file or its folder")
        return {"weights": str(alexnet_weights_path(spec.weights))}
    if architecture == "lstm-frame-cnn":
        pretraining = FramePretraining()
        frame_root = data.root if data.dataset == "moving-fashion" else None
        weights = pretrained_frame_encoder(pretraining, frame_root, spec.cache_dir, progress)
        return {"frame_weights": str(weights), "size": pretraining.canvas, "feature_dim": pretraining.feature_dim}
    return {}


def input_shape_kwargs(architecture: str, dataset: RetrievalDataset) -> dict:
    """The small CNN's channels and size for `dataset`'s images; {} for 28x28 grey images (the default
    model, its cache key unchanged) and for every other architecture."""
    if architecture != "small-cnn":
        return {}
    channels, height, width = dataset.train.pixels(torch.arange(1)).shape[1:]
    if height != width or height < 4:
        raise InputError(f"small-cnn needs square images of at least 4 pixels, {dataset.name} has {height}x{width}; "
                         f"give --size")
    return {} if (channels, height) == (1, 28) else {"channels": int(channels), "size": int(height)}


def obtain_model(spec: ModelSpec, data: DataSpec, source: Source, device: str = "cpu",
                 progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on `device`, metadata) for `spec`: trained (cached), a checkpoint, or a factory."""
    if spec.source == "checkpoint":
        model, meta = load_checkpoint(spec.checkpoint, bits=spec.bits)   # a given code length must be the checkpoint's
        check_accepts(model, source.dataset.query, f"checkpoint {spec.checkpoint}")
        bits = meta["model"].get("bits")
        return model.to(device).eval(), {**meta, "source": "checkpoint", "path": str(spec.checkpoint), "bits": bits}
    if spec.source == "factory":
        model = load_user_model(spec.factory, spec.weights, spec.factory_kwargs, [*spec.model_path, Path.cwd()],
                                spec.mean, spec.std, spec.output)
        bits = code_length(model.to(device).eval(), source.dataset.query.pixels(slice(0, 1))[0].to(device))
        if spec.bits is not None and bits != spec.bits:
            raise InputError(f"{spec.factory} returns {bits} values per input, not the {spec.bits} bits asked for")
        meta = {"source": f"user model {spec.factory}", "weights": spec.weights or "(factory's own)",
                "factory_kwargs": spec.factory_kwargs, "output": spec.output}
        if spec.weights is not None:
            meta["sha256"] = sha256_of(Path(spec.weights))   # a resumed run refuses other weights
        return model.to(device).eval(), meta
    architecture = architecture_of(spec, data)
    model, meta = trained_model(source.dataset, architecture, spec.bits, train_config_of(spec, data),
                                spec.cache_dir, device, progress,
                                {**model_kwargs(spec, data, progress), **input_shape_kwargs(architecture, source.dataset)},
                                spec.adversarial, build_attack)
    return model, {**meta, "source": "trained"}


def model_identity(spec: ModelSpec, data: DataSpec, meta: dict, bits: int) -> dict:
    """What identifies the attacked model in a run's fingerprint."""
    if spec.source == "train":
        adversarial = {} if spec.adversarial is None else {"adversarial": spec.adversarial.as_dict()}
        return {"source": "train", "architecture": architecture_of(spec, data), "bits": bits,
                "train": train_config_of(spec, data).as_dict(), "kwargs": meta.get("model", {}), **adversarial}
    return {"source": spec.source, "bits": bits, "sha256": meta.get("sha256"),
            "architecture": meta.get("model", {}).get("architecture") if spec.source == "checkpoint" else spec.factory,
            **({"factory_kwargs": spec.factory_kwargs, "output": spec.output, "mean": spec.mean, "std": spec.std}
               if spec.source == "factory" else {})}


def with_defaults(spec: ModelSpec, data: DataSpec) -> ModelSpec:
    """`spec` with the dataset's default architecture and training settings written in."""
    return replace(spec, architecture=architecture_of(spec, data), train=train_config_of(spec, data))


__all__ = ["Source", "open_data", "default_architecture", "default_train_config", "model_kwargs", "input_shape_kwargs",
           "obtain_model", "model_identity", "with_defaults", "PAPER_BITS"]
