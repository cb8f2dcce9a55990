"""`hashattack train`: train a hashing model on a dataset's training split and save a checkpoint."""

from __future__ import annotations

import argparse
import time

from hashattack.cli.model_options import add_model_options, model_spec
from hashattack.cli.options import add_data_options, data_spec
from hashattack.cli.values import path_value, seed_value
from hashattack.protocol.model_sources import input_shape_kwargs
from hashattack.protocol.sources import open_data, with_defaults
from hashattack.protocol.trainer import train_new_model
from hashattack.training.checkpoints import save_checkpoint


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "train", help="train a hashing model (pairwise, HashNet or DVH loss; optionally adversarially) and save a checkpoint",
        description="Train a hashing model on the training split and write a checkpoint (state_dict + JSON "
                    "metadata) that every attacking command takes with --checkpoint. Defaults: small-cnn with its "
                    "own settings on fashion-mnist (10 epochs, batch 64, lr 0.05); vgg11 with appendix B's settings "
                    "on imagenet100 / nus-wide (SGD momentum 0.9, weight decay 5e-4, fixed lr 0.01, batch 24; 24 "
                    "epochs); the frame encoder + LSTM with the DVH loss on videos (lr 0.05, batch 100, 200 epochs). "
                    "--adversarial trains with adversarial examples made on the fly (untargeted, targeted towards "
                    "random anchors, or center-guided); its settings are recorded in the checkpoint.",
        epilog="examples:\n"
               "  hashattack train --bits 32 --out models/fmnist-32.pt\n"
               "  hashattack demo --checkpoint models/fmnist-32.pt          # attack it\n"
               "  hashattack train --bits 32 --adversarial center --adv-eps 0.2 --adv-steps 5 --out models/adv-32.pt\n"
               "  hashattack train --dataset imagenet100 --root /data/imagenet --weights ~/.cache/torch --bits 32 "
               "--out models/vgg11-32.pt\n"
               "  hashattack train --dataset nus-wide --root /data/nus-wide --weights vgg11-8a719046.pth --loss hashnet "
               "--bits 48 --out models/hashnet-48.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=path_value, required=True, help="checkpoint file to write (and OUT.json beside it)")
    add_data_options(parser)
    add_model_options(parser, sweep=False)
    parser.add_argument("--seed", type=seed_value, help="seed of the user-image and video splits (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run, dataset="fashion-mnist")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    data = data_spec(args)
    spec = with_defaults(model_spec(args, data, args.bits or 32), data)   # no --checkpoint / --model here
    architecture, config = spec.architecture, spec.train
    kwargs = spec.initial_weights(data, progress=not args.quiet)   # missing weights refused before the data is read
    dataset = open_data(data, args.seed or 0).dataset
    kwargs.update(input_shape_kwargs(architecture, dataset))   # the small CNN takes the images' shape
    started = time.perf_counter()
    model, meta = train_new_model(dataset, architecture, spec.bits, config, args.device, not args.quiet, kwargs,
                                  spec.adversarial)
    seconds = time.perf_counter() - started
    save_checkpoint(args.out, model.cpu(), {**meta, "initial_weights": kwargs.get("weights")})
    how = "" if spec.adversarial is None else (
        f", adversarially ({spec.adversarial.method}: eps {spec.adversarial.eps:g} {spec.adversarial.eps_space}, "
        f"{spec.adversarial.steps} steps, mix {spec.adversarial.mix:g})")
    print(f"trained {architecture} ({spec.bits} bits, {config.loss} loss{how}) on {len(dataset.train)} {dataset.name} "
          f"objects in {seconds:.0f} s; final loss {meta['loss_history'][-1]:.4f}")
    print(f"checkpoint: {args.out} (+ {args.out.name}.json)")
    return 0
