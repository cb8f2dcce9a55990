"""The options that say which model is attacked, and the model source they describe.

A checkpoint (--checkpoint), a user's module (--model) or a model trained here (the default, with
--arch, the training and --adversarial options); options of another source than the one given are
refused on one line naming them (`model_spec`).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from hashattack.cli.values import at_most, parse_pairs, positive_float, seed_value
from hashattack.errors import InputError
from hashattack.models import available_models
from hashattack.models.user import OUTPUTS
from hashattack.protocol.model_sources import CheckpointModel, FactoryModel, ModelSource, TrainedModel
from hashattack.protocol.sources import default_architecture, default_train_config
from hashattack.protocol.spec import DataSpec
from hashattack.training.adversarial import ADVERSARIAL_METHODS, AdversarialTraining
from hashattack.training.losses import LOSSES
from hashattack.validation import EPS_SPACES, MAX_BATCH, MAX_BITS, MAX_EPOCHS, MAX_STEPS


def add_model_options(parser: argparse.ArgumentParser, sweep: bool = True) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--bits", type=at_most(MAX_BITS), nargs="+" if sweep else None,
                       help="code length K (default 32)" + ("; several values: one sub-run each" if sweep else ""))
    group.add_argument("--arch", choices=available_models(),
                       help="hashing model trained here (default: small-cnn on fashion-mnist and images, vgg11 on "
                            "imagenet100 / nus-wide, lstm-frame-cnn on moving-fashion, lstm-alexnet on jhmdb / ucf101)")
    if sweep:
        group.add_argument("--checkpoint", type=Path, help="attack a model written by `hashattack train` instead")
        group.add_argument("--model", metavar="MODULE:FACTORY",
                           help="attack your own nn.Module (K real outputs per input) built by this factory: "
                                "package.module:function or path/to/file.py:function")
        group.add_argument("--model-path", type=Path, action="append", metavar="DIR",
                           help="folder to import --model's module from, after the installed packages (repeatable; the "
                                "current folder is tried last)")
        group.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                           help="keyword argument of --model's factory (repeatable); VALUE read as TOML")
        group.add_argument("--mean", type=float, nargs="+", help="--model: per-channel mean of its input normalisation")
        group.add_argument("--std", type=float, nargs="+", help="--model: per-channel std of its input normalisation")
        group.add_argument("--output", choices=OUTPUTS,
                           help="--model: raw (attack its outputs as they are, default) or tanh (it ends with tanh)")
    group.add_argument("--weights", type=Path,
                       help="ImageNet weights of a torchvision backbone or AlexNet (a file or torchvision's cache "
                            "folder), or --model's state_dict")
    group.add_argument("--random-init", action="store_true", default=None,
                       help="train a torchvision backbone from random weights instead of ImageNet's")
    group.add_argument("--loss", choices=sorted(LOSSES),
                       help="training loss (default pairwise; hashnet on mosaic-fashion; dvh on videos)")
    group.add_argument("--epochs", type=at_most(MAX_EPOCHS),
                       help="training epochs (default: 10 small-cnn, 30 small-cnn on mosaic-fashion, 24 vgg, 200 video)")
    group.add_argument("--lr", type=positive_float, help="learning rate (default: 0.05 small-cnn and video, 0.01 vgg)")
    group.add_argument("--train-batch-size", type=at_most(MAX_BATCH), help="training batch (default: 64 small-cnn, 24 vgg, 100 video)")
    group.add_argument("--train-seed", type=seed_value, help="seed of the training run (default 0)")
    group.add_argument("--cache-dir", type=Path, help="trained-model cache (default $HASHATTACK_CACHE or ~/.cache/hashattack)")
    adversarial = parser.add_argument_group("adversarial training (a model trained here; see docs/robustness.md)")
    adversarial.add_argument("--adversarial", choices=ADVERSARIAL_METHODS,
                             help="train with adversarial examples made on the fly: untargeted (away from the benign "
                                  "code), targeted (DHTA towards random other classes' centers), center (CgAT-style, "
                                  "away from the class center code)")
    adversarial.add_argument("--adv-eps", type=positive_float, help="eps of the training attack (default 0.2)")
    adversarial.add_argument("--adv-eps-space", choices=EPS_SPACES, help="its space (default pixel)")
    adversarial.add_argument("--adv-steps", type=at_most(MAX_STEPS), help="steps of the training attack (default 5)")
    adversarial.add_argument("--adv-step-size", type=positive_float,
                             help="step factor of the training attack (default 2000/steps: the paper's path length)")
    adversarial.add_argument("--adv-mix", type=positive_float,
                             help="share of each batch replaced by adversarial examples, in (0, 1] (default 0.5)")


# Options of one model source: a checkpoint or a --model factory refuses those of a model trained here.
TRAINING_OPTIONS = ("arch", "loss", "epochs", "lr", "train_batch_size", "train_seed", "random_init", "adversarial",
                    "adv_eps", "adv_eps_space", "adv_steps", "adv_step_size", "adv_mix")
FACTORY_OPTIONS = ("model_path", "model_arg", "mean", "std", "output")


def model_spec(args: argparse.Namespace, data: DataSpec, bits: int | None) -> ModelSource:
    """The model source of the options: --checkpoint, --model (a factory) or a model trained here; options
    of another source are refused, naming them."""
    text = lambda value: None if value is None else str(value)
    checkpoint, factory = text(getattr(args, "checkpoint", None)), getattr(args, "model", None)
    given = lambda names: [f"--{n.replace('_', '-')}" for n in names if getattr(args, n, None) not in (None, [], False)]
    if checkpoint is not None and factory is not None:
        raise InputError("give either --checkpoint or --model, not both")
    if checkpoint is not None or factory is not None:
        refused = given(TRAINING_OPTIONS + (("weights", *FACTORY_OPTIONS) if checkpoint else ()))
        if refused:
            what = f"--checkpoint {checkpoint}" if checkpoint else f"--model {factory}"
            raise InputError(f"{what} does not take {', '.join(refused)}: options of another model source")
        if checkpoint is not None:
            return CheckpointModel(path=checkpoint, bits=bits)
        return FactoryModel(factory=factory, weights=text(args.weights),
                            kwargs=parse_pairs(getattr(args, "model_arg", None), "--model-arg"),
                            model_path=tuple(str(p) for p in getattr(args, "model_path", None) or ()),
                            mean=tuple(args.mean) if getattr(args, "mean", None) else None,
                            std=tuple(args.std) if getattr(args, "std", None) else None,
                            output=getattr(args, "output", None) or "raw", bits=bits)
    if given(FACTORY_OPTIONS):
        raise InputError(f"{', '.join(given(FACTORY_OPTIONS))}: options of a --model factory, not of a model trained here")
    changes = {name: getattr(args, option) for option, name in (("loss", "loss"), ("epochs", "epochs"), ("lr", "lr"),
               ("train_batch_size", "batch_size"), ("train_seed", "seed")) if getattr(args, option) is not None}
    train = None
    if changes:
        train = replace(default_train_config(data.dataset, args.arch or default_architecture(data.dataset)), **changes)
    return TrainedModel(bits=bits, architecture=args.arch, train=train, weights=text(args.weights),
                        random_init=bool(args.random_init), cache_dir=text(args.cache_dir),
                        adversarial=adversarial_settings(args))


def adversarial_settings(args: argparse.Namespace) -> AdversarialTraining | None:
    """The adversarial training settings of the --adversarial / --adv-* options (None without --adversarial)."""
    given = {name: getattr(args, f"adv_{name}", None) for name in ("eps", "eps_space", "steps", "step_size", "mix")}
    if getattr(args, "adversarial", None) is None:
        if any(value is not None for value in given.values()):
            raise InputError("--adv-eps / --adv-eps-space / --adv-steps / --adv-step-size / --adv-mix need "
                             "--adversarial untargeted|targeted|center")
        return None
    return AdversarialTraining(args.adversarial, **{k: v for k, v in given.items() if v is not None})


__all__ = ["add_model_options", "model_spec", "adversarial_settings", "TRAINING_OPTIONS", "FACTORY_OPTIONS"]
