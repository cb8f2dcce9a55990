"""What a transfer experiment is, as data: craft on surrogate models, score on victim models.

A `TransferSpec` names the victims (models the attacker does not have: each is scored with its
own database codes) and the surrogates (what the attack is crafted on: one model, or several
whose DHTA losses are summed, `models.ensemble.Ensemble`). Models are model sources
(`protocol.model_sources`): trained here through the cache (architecture, bits, training seed) or
checkpoints of `hashattack train`.

On the command line and in config files a model is a string (`model_from_text`):

    small-cnn                    the dataset's default training of that architecture
    small-cnn:seed=1             ... with training seed 1 (also bits=16, epochs=3, lr=0.01, batch=32, loss=hashnet)
    lenet:bits=16,seed=2         another architecture (any of `models.available_models()`)
    models/fmnist-32.pt          a checkpoint written by `hashattack train`
    small-cnn:seed=1+lenet       an ensemble: models joined by '+'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from hashattack.attacks.registry import method as registered_method
from hashattack.errors import InputError
from hashattack.models import available_models
from hashattack.protocol.model_sources import CheckpointModel, ModelSource, TrainedModel
from hashattack.protocol.sources import with_defaults
from hashattack.protocol.spec import DataSpec, Experiment, RunControls

TRAIN_KEYS = {"seed": ("seed", int), "epochs": ("epochs", int), "lr": ("lr", float), "batch": ("batch_size", int),
              "loss": ("loss", str)}


@dataclass(frozen=True, kw_only=True)
class TransferSpec(Experiment):
    """Surrogates (each a tuple of models: one, or an ensemble) x victims, on one manifest of queries; the
    data, attack settings, queries and controls as every experiment (`protocol.spec.Experiment`).

    `leave_one_out`: add, for each victim, an ensemble of every other victim (the attacker has all the
    models but the one attacked).
    """

    surrogates: tuple[tuple[ModelSource, ...], ...] = ()
    victims: tuple[ModelSource, ...] = ()
    leave_one_out: bool = False
    method: str = "DHTA"
    controls: RunControls = RunControls(out="runs/transfer")

    def __post_init__(self):
        super().__post_init__()
        if registered_method(self.method).target != "anchor":
            raise InputError(f"transfer crafts with a method steered by anchor codes (DHTA or P2P), not {self.method}")
        if not self.victims:
            raise InputError("transfer needs at least one victim model")
        if not self.surrogates:
            raise InputError("transfer needs at least one surrogate model")
        filled = lambda models: tuple(with_defaults(m, self.data) for m in models)
        object.__setattr__(self, "victims", filled(self.victims))
        object.__setattr__(self, "surrogates", tuple(filled(row) for row in self.surrogates))

    def rows(self) -> list[tuple[ModelSource, ...]]:
        """The surrogates crafted on: the given ones, then the leave-one-out ensembles (without repeats)."""
        rows = list({repr(row): row for row in self.surrogates}.values())
        if self.leave_one_out:
            for victim in self.victims:
                others = tuple(m for m in self.victims if repr(m) != repr(victim))
                if len(others) >= 2 and repr(others) not in map(repr, rows):
                    rows.append(others)
        return rows


def model_label(model: ModelSource, data: DataSpec) -> str:
    """A short name of a model: `small-cnn s1 32b`, `lenet s0 16b`, the checkpoint's file name or the factory."""
    return with_defaults(model, data).label()


def row_label(row: tuple[ModelSource, ...], data: DataSpec) -> str:
    return " + ".join(model_label(m, data) for m in row)


def model_from_text(text: str, base: TrainedModel, data: DataSpec) -> ModelSource:
    """One model of the command line (see the module docstring); `base` carries the shared options."""
    text = text.strip()
    name, _, options = text.partition(":")
    if name.endswith(".pt") or (Path(text).suffix == ".pt"):
        if not Path(text).is_file():
            raise InputError(f"checkpoint {text} does not exist")
        return CheckpointModel(path=text)
    if name not in available_models():
        raise InputError(f"model {text!r}: unknown architecture {name!r} (choose from {', '.join(available_models())}, "
                         f"or give a checkpoint file .pt)")
    spec = replace(base, architecture=name)
    train = base.train or with_defaults(replace(spec, train=None), data).train
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, sep, value = item.partition("=")
        try:
            if key == "bits" and sep:
                spec = replace(spec, bits=int(value))
            elif key in TRAIN_KEYS and sep:
                field_name, kind = TRAIN_KEYS[key]
                train = replace(train, **{field_name: kind(value)})
            else:
                raise ValueError
        except ValueError:
            raise InputError(f"model {text!r}: {item!r} is not KEY=VALUE with KEY one of bits, "
                             f"{', '.join(TRAIN_KEYS)}") from None
    return with_defaults(replace(spec, train=train), data)


def models_from_text(text: str, base: TrainedModel, data: DataSpec) -> tuple[ModelSource, ...]:
    """A surrogate: one model, or an ensemble of models joined by '+'."""
    return tuple(model_from_text(part, base, data) for part in text.split("+"))


__all__ = ["TransferSpec", "model_label", "row_label", "model_from_text", "models_from_text"]
