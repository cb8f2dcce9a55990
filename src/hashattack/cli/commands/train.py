"""`hashattack train`: train a hashing model on a dataset's training split and save a checkpoint."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hashattack.cli.main import positive_int
from hashattack.cli.dataset_options import (add_dataset_options, add_model_options, model_choice,
                                                 open_dataset_from, train_config_from)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "train", help="train a hashing model (pairwise or HashNet loss) and save a checkpoint",
        description="Train a hashing model on the training split and write a checkpoint (state_dict + JSON "
                    "metadata). Defaults: small-cnn with its own settings on fashion-mnist (10 epochs, batch 64, "
                    "lr 0.05); vgg11 with appendix B's settings on imagenet100 / nus-wide (SGD momentum 0.9, "
                    "weight decay 5e-4, fixed lr 0.01, batch 24; 24 epochs).",
        epilog="examples:\n"
               "  hashattack train --bits 32 --out models/fmnist-32.pt\n"
               "  hashattack train --dataset imagenet100 --root /data/imagenet --weights ~/.cache/torch --bits 32 "
               "--out models/vgg11-32.pt\n"
               "  hashattack train --dataset nus-wide --root /data/nus-wide --weights vgg11-8a719046.pth --loss hashnet "
               "--bits 48 --out models/hashnet-48.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bits", type=positive_int, default=32, help="code length K (default 32)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint file to write (and OUT.json beside it)")
    add_dataset_options(parser)
    add_model_options(parser)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hashattack.training.checkpoints import save_checkpoint
    from hashattack.models import create_model
    from hashattack.training.loop import train_model

    architecture, model_kwargs = model_choice(args)
    config = train_config_from(args, architecture)
    dataset = open_dataset_from(args)
    model = create_model(architecture, args.bits, **model_kwargs)
    started = time.perf_counter()
    history = train_model(model, dataset.train, config, device=args.device, progress=not args.quiet)
    seconds = time.perf_counter() - started
    meta = {"dataset": dataset.name, "protocol": dataset.protocol, "train": config.as_dict(),
            "initial_weights": model_kwargs.get("weights"), "loss_history": history, "train_seconds": round(seconds, 1)}
    save_checkpoint(args.out, model.cpu(), meta)
    print(f"trained {architecture} ({args.bits} bits, {config.loss} loss) on {len(dataset.train)} {dataset.name} "
          f"objects in {seconds:.0f} s; final loss {history[-1]:.4f}")
    print(f"checkpoint: {args.out} (+ {args.out.name}.json)")
    return 0
