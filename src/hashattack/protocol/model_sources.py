"""Where the attacked model comes from, one type per source: trained here, a checkpoint, a user's factory.

    TrainedModel(bits=32)                          # the dataset's default architecture and training, cached
    TrainedModel(bits=16, architecture="lenet", train=TrainConfig(epochs=3), adversarial=AdversarialTraining())
    CheckpointModel(path="models/fmnist-32.pt")    # written by `hashattack train`
    FactoryModel(factory="my_pkg.nets:build", weights="net.pt", kwargs={"bits": 48})

Each type obtains its model (`obtain`), says what identifies it in a run's fingerprint (`identity`),
what results call its architecture (`architecture_label`), its short name (`label`) and its record in
results.json (`to_json`: one layout for every source, the one run folders have always held). A
`TrainedModel`'s `architecture` / `train` None stand for the dataset's defaults, written in by
`protocol.sources.with_defaults` before it is obtained. Options of another source are not fields,
so a checkpoint cannot be given training settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, ClassVar

import torch.hub

from hashattack.data.base import RetrievalDataset
from hashattack.errors import InputError
from hashattack.models import imagenet_models, model_entry
from hashattack.models.inputs import check_accepts
from hashattack.models.user import OUTPUTS, code_length, load_user_model
from hashattack.protocol.trainer import trained_model
from hashattack.training.adversarial import AdversarialTraining
from hashattack.training.checkpoints import load_checkpoint, sha256_of
from hashattack.training.frame_pretraining import FramePretraining, pretrained_frame_encoder
from hashattack.training.loop import TrainConfig
from hashattack.validation import check_choice

# The record of a model in results.json / sweep.json / transfer.json: every source's fields in one object.
RECORD = {"bits": None, "architecture": None, "train": None, "weights": None, "random_init": False, "checkpoint": None,
          "factory": None, "factory_kwargs": {}, "model_path": (), "mean": None, "std": None, "output": "raw",
          "cache_dir": None, "adversarial": None}


def _check_bits(bits, optional: bool) -> None:
    if bits is None and optional:
        return
    if not isinstance(bits, int) or isinstance(bits, bool) or bits <= 0:
        raise InputError(f"bits must be a positive integer, got {bits!r}")


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    """A model trained here on the dataset's training split, through the trained-model cache.

    `architecture` / `train` None: the dataset's defaults. `weights`: ImageNet weights of a backbone that
    starts from them (a file or torchvision's cache folder; default: torch hub's cache), or `random_init`.
    `adversarial`: trained adversarially with these settings (cached under them too)."""

    bits: int = 32
    architecture: str | None = None
    train: TrainConfig | None = None
    weights: str | None = None
    random_init: bool = False
    cache_dir: str | None = None
    adversarial: AdversarialTraining | None = None
    description: ClassVar[str] = "a model trained here"
    fixed_bits: ClassVar[bool] = False      # each code length is another model: bits can be swept

    def __post_init__(self):
        _check_bits(self.bits, optional=False)
        if self.architecture is not None:
            model_entry(self.architecture)
        if self.weights is not None and self.random_init:
            raise InputError("give either --weights or --random-init, not both")

    def with_defaults(self, dataset: str, architecture_of: Callable[[str], str],
                      train_of: Callable[[str, str], TrainConfig]) -> "TrainedModel":
        """This model with `dataset`'s default architecture (`architecture_of(dataset)`) and training
        (`train_of(dataset, architecture)`) written in where they are None."""
        architecture = self.architecture or architecture_of(dataset)
        return replace(self, architecture=architecture, train=self.train or train_of(dataset, architecture))

    def _resolved(self) -> "TrainedModel":
        if self.architecture is None or self.train is None:
            raise ValueError("a TrainedModel's dataset defaults are not written in: use protocol.sources.with_defaults")
        return self

    def model_kwargs(self, data, dataset: RetrievalDataset, progress: bool = True) -> dict:
        """The factory arguments the architecture takes (its registry entry): its initial weights and the
        images' shape of `dataset`."""
        return {**self.initial_weights(data, progress), **input_shape_kwargs(self._resolved().architecture, dataset)}

    def initial_weights(self, data, progress: bool = True) -> dict:
        """The factory arguments of the weights it starts from: ImageNet weights, or the frame encoder
        pretrained for `data` (the run's DataSpec); checked before any data is read."""
        entry = model_entry(self._resolved().architecture)
        return {**self._weights(entry), **self._frame_encoder(entry, data, progress)}

    def _weights(self, entry) -> dict:
        if entry.imagenet_weights is None:
            if self.weights is not None or self.random_init:
                raise InputError(f"--weights / --random-init apply to the ImageNet backbones "
                                 f"({', '.join(imagenet_models())}), not {entry.name}")
            return {}
        if self.random_init:
            if not entry.random_init:
                raise InputError(f"{entry.name} starts from ImageNet weights: give --weights, not --random-init")
            return {}
        weights = self.weights
        if weights is None:
            if entry.weights_file is None:
                raise InputError(f"{entry.name} needs --weights: torchvision's ImageNet weights file or its folder")
            cache = Path(torch.hub.get_dir()) / "checkpoints" / entry.weights_file()
            if not cache.is_file():
                raise InputError(f"{entry.name} needs ImageNet weights: {cache} does not exist (no download is "
                                 f"possible); give --weights FILE-or-FOLDER holding {cache.name}, or --random-init")
            weights = cache
        return {"weights": str(entry.imagenet_weights(weights))}

    def _frame_encoder(self, entry, data, progress: bool) -> dict:
        if not entry.frame_encoder:
            return {}
        pretraining = FramePretraining()
        frame_root = data.root if data.entry.frame_root else None
        weights = pretrained_frame_encoder(pretraining, frame_root, self.cache_dir, progress)
        return {"frame_weights": str(weights), "size": pretraining.canvas, "feature_dim": pretraining.feature_dim}

    def obtain(self, data, source, device: str = "cpu", progress: bool = True) -> tuple[torch.nn.Module, dict]:
        """(model in eval mode on `device`, metadata): trained on `source.dataset` (a protocol.sources.Source
        of `data`, the run's DataSpec), or the cached one."""
        spec, dataset = self._resolved(), source.dataset
        model, meta = trained_model(dataset, spec.architecture, spec.bits, spec.train, spec.cache_dir, device, progress,
                                    spec.model_kwargs(data, dataset, progress), spec.adversarial)
        return model, {**meta, "source": "trained"}

    def identity(self, meta: dict, bits: int) -> dict:
        """What identifies the model in a run's fingerprint."""
        spec = self._resolved()
        adversarial = {} if spec.adversarial is None else {"adversarial": spec.adversarial.as_dict()}
        return {"source": "train", "architecture": spec.architecture, "bits": bits, "train": spec.train.as_dict(),
                "kwargs": meta.get("model", {}), **adversarial}

    def architecture_label(self, meta: dict) -> str:
        return self._resolved().architecture

    def label(self) -> str:
        """A short name: `small-cnn s1 32b`."""
        spec = self._resolved()
        return f"{spec.architecture} s{spec.train.seed} {spec.bits}b"

    def to_json(self) -> dict:
        return {**RECORD, **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class CheckpointModel:
    """A checkpoint written by `hashattack train` (or a cached model); `bits`, when given, must be its code length."""

    path: str
    bits: int | None = None
    description: ClassVar[str] = "a checkpoint"
    fixed_bits: ClassVar[bool] = True

    def __post_init__(self):
        if not isinstance(self.path, str) or not self.path:
            raise InputError(f"a checkpoint is a file path, got {self.path!r}")
        _check_bits(self.bits, optional=True)

    def with_defaults(self, dataset: str, architecture_of: Callable, train_of: Callable) -> "CheckpointModel":
        return self

    def obtain(self, data, source, device: str = "cpu", progress: bool = True) -> tuple[torch.nn.Module, dict]:
        model, meta = load_checkpoint(self.path, bits=self.bits)   # a given code length must be the checkpoint's
        check_accepts(model, source.dataset.query, f"checkpoint {self.path}")
        bits = meta["model"].get("bits")
        return model.to(device).eval(), {**meta, "source": "checkpoint", "path": str(self.path), "bits": bits}

    def identity(self, meta: dict, bits: int) -> dict:
        return {"source": "checkpoint", "bits": bits, "sha256": meta.get("sha256"),
                "architecture": self.architecture_label(meta)}

    def architecture_label(self, meta: dict) -> str | None:
        return meta.get("model", {}).get("architecture")

    def label(self) -> str:
        return Path(self.path).name

    def to_json(self) -> dict:
        return {**RECORD, "bits": self.bits, "checkpoint": self.path}


@dataclass(frozen=True, kw_only=True)
class FactoryModel:
    """A user's nn.Module built by `factory` ("package.module:function" or "path/file.py:function") with `kwargs`,
    imported from `model_path` folders, holding `weights` (a state_dict); `mean` / `std` its input normalisation,
    `output` "raw" or "tanh"; `bits`, when given, must be its number of outputs."""

    factory: str
    weights: str | None = None
    kwargs: dict = field(default_factory=dict)
    model_path: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    output: str = "raw"
    bits: int | None = None
    description: ClassVar[str] = "a factory model"
    fixed_bits: ClassVar[bool] = True

    def __post_init__(self):
        if not isinstance(self.factory, str) or not self.factory:
            raise InputError(f"a model factory is 'package.module:function', got {self.factory!r}")
        check_choice(self.output, OUTPUTS, "model output")
        _check_bits(self.bits, optional=True)

    def with_defaults(self, dataset: str, architecture_of: Callable, train_of: Callable) -> "FactoryModel":
        return self

    def obtain(self, data, source, device: str = "cpu", progress: bool = True) -> tuple[torch.nn.Module, dict]:
        model = load_user_model(self.factory, self.weights, self.kwargs, [*self.model_path, Path.cwd()],
                                self.mean, self.std, self.output)
        bits = code_length(model.to(device).eval(), source.dataset.query.pixels(slice(0, 1))[0].to(device))
        if self.bits is not None and bits != self.bits:
            raise InputError(f"{self.factory} returns {bits} values per input, not the {self.bits} bits asked for")
        meta = {"source": f"user model {self.factory}", "weights": self.weights or "(factory's own)",
                "factory_kwargs": self.kwargs, "output": self.output}
        if self.weights is not None:
            meta["sha256"] = sha256_of(Path(self.weights))   # a resumed run refuses other weights
        return model.to(device).eval(), meta

    def identity(self, meta: dict, bits: int) -> dict:
        return {"source": "factory", "bits": bits, "sha256": meta.get("sha256"), "architecture": self.factory,
                "factory_kwargs": self.kwargs, "output": self.output, "mean": self.mean, "std": self.std}

    def architecture_label(self, meta: dict) -> str:
        return f"user model {self.factory}"

    def label(self) -> str:
        return self.factory

    def to_json(self) -> dict:
        return {**RECORD, "bits": self.bits, "weights": self.weights, "factory": self.factory,
                "factory_kwargs": dict(self.kwargs), "model_path": self.model_path, "mean": self.mean, "std": self.std,
                "output": self.output}


ModelSource = TrainedModel | CheckpointModel | FactoryModel


def input_shape_kwargs(architecture: str, dataset: RetrievalDataset) -> dict:
    """The images' channels and size for an architecture that takes them; {} for 28x28 grey images (its
    defaults, the cache key unchanged) and for every other architecture."""
    entry = model_entry(architecture)
    if not entry.input_shape:
        return {}
    channels, height, width = dataset.train.pixels(torch.arange(1)).shape[1:]
    if height != width or height < 4:
        raise InputError(f"{entry.name} needs square images of at least 4 pixels, {dataset.name} has "
                         f"{height}x{width}; give --size")
    return {} if (channels, height) == (1, 28) else {"channels": int(channels), "size": int(height)}


__all__ = ["TrainedModel", "CheckpointModel", "FactoryModel", "ModelSource", "input_shape_kwargs"]
