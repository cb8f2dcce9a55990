"""Command-line options shared by `train` and `experiment`: which dataset, which model, how to train it.

Defaults depend on the dataset: the embedded Fashion-MNIST uses the small CNN with its own
training settings (train.TrainConfig), ImageNet-100 / NUS-WIDE use VGG-11 with appendix B's
(train.PAPER_TRAIN_CONFIG: SGD momentum 0.9, weight decay 5e-4, lr 0.01, batch 24).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from hashattack.cli.main import positive_float, positive_int
from hashattack.errors import InputError


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    from hashattack.data import DATASET_NAMES

    group = parser.add_argument_group("dataset")
    group.add_argument("--dataset", choices=DATASET_NAMES, default="fashion-mnist",
                       help="fashion-mnist (embedded default) or imagenet100 / nus-wide from list files")
    group.add_argument("--root", "--data", dest="root", type=Path,
                       help="image root of the list files (imagenet100, nus-wide), or the Fashion-MNIST IDX folder")
    group.add_argument("--train-list", type=Path, help="training list file (default ROOT/train.txt)")
    group.add_argument("--database-list", type=Path, help="database list file (default ROOT/database.txt)")
    group.add_argument("--query-list", type=Path, help="query list file (default ROOT/test.txt)")
    group.add_argument("--train-per-class", type=positive_int, default=2000,
                       help="Fashion-MNIST: training images per class (default 2000)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    from hashattack.training.losses import LOSSES
    from hashattack.models import available_models

    group = parser.add_argument_group("model and training")
    group.add_argument("--arch", choices=available_models(),
                       help="hashing model (default: small-cnn on fashion-mnist, vgg11 otherwise)")
    group.add_argument("--weights", type=Path,
                       help="ImageNet weights of a torchvision backbone: a state_dict file or torchvision's cache folder "
                            "(default: torchvision's cache, $TORCH_HOME or ~/.cache/torch, when it holds them)")
    group.add_argument("--random-init", action="store_true",
                       help="train a torchvision backbone from random weights instead of ImageNet's")
    group.add_argument("--loss", choices=sorted(LOSSES), default="pairwise",
                       help="training loss: pairwise (Yang et al., default) or hashnet (HashNet, the 'advanced' model)")
    group.add_argument("--epochs", type=positive_int, help="training epochs (default: 10 small-cnn, 24 paper-scale)")
    group.add_argument("--lr", type=positive_float, help="learning rate (default: 0.05 small-cnn, 0.01 paper-scale)")
    group.add_argument("--train-batch-size", type=positive_int, help="training batch (default: 64 small-cnn, 24 paper-scale)")
    group.add_argument("--train-seed", type=int, default=0, help="seed of the training run (default 0)")


def open_dataset_from(args: argparse.Namespace):
    from hashattack.data import open_dataset

    if args.dataset == "fashion-mnist" and any((args.train_list, args.database_list, args.query_list)):
        raise InputError("--train-list/--database-list/--query-list apply to imagenet100 and nus-wide, not fashion-mnist")
    return open_dataset(args.dataset, args.root, args.train_list, args.database_list, args.query_list,
                        train_per_class=args.train_per_class)


def model_choice(args: argparse.Namespace) -> tuple[str, dict]:
    """(architecture, model kwargs) from the options, with the dataset's default architecture."""
    architecture = args.arch or ("small-cnn" if args.dataset == "fashion-mnist" else "vgg11")
    if architecture == "small-cnn":
        if args.weights is not None or args.random_init:
            raise InputError("--weights / --random-init apply to the torchvision backbones (vgg11, vgg16, resnet50), "
                             "not small-cnn")
        return architecture, {}
    if args.random_init:
        if args.weights is not None:
            raise InputError("give either --weights or --random-init, not both")
        return architecture, {}
    weights = args.weights
    if weights is None:
        import torch.hub

        from hashattack.models.torchvision_hash import weights_file_name

        cache = Path(torch.hub.get_dir()) / "checkpoints" / weights_file_name(architecture)
        if not cache.is_file():
            raise InputError(f"{architecture} needs ImageNet weights: {cache} does not exist (no download is possible); "
                             f"give --weights FILE-or-FOLDER holding {cache.name}, or --random-init")
        weights = cache
    from hashattack.models.torchvision_hash import resolve_weights

    return architecture, {"weights": str(resolve_weights(architecture, weights))}   # fails early when absent


def train_config_from(args: argparse.Namespace, architecture: str):
    """The dataset's default training settings with the options given on the command line."""
    from hashattack.training.loop import PAPER_TRAIN_CONFIG, TrainConfig

    base = TrainConfig() if architecture == "small-cnn" else PAPER_TRAIN_CONFIG
    changes = {"loss": args.loss, "seed": args.train_seed}
    for option, name in (("epochs", "epochs"), ("lr", "lr"), ("train_batch_size", "batch_size")):
        if getattr(args, option) is not None:
            changes[name] = getattr(args, option)
    return replace(base, **changes)
