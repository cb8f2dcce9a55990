"""The `hashattack` command line: a thin layer over the library.

Bad input exits with status 2 and one line `hashattack: error: ...`, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hashattack import __version__
from hashattack.errors import InputError

DEFAULT_EPS = 0.2   # pixel space, for 28x28 grey Fashion-MNIST (see docs/calibration.md)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line and exits 2."""

    def error(self, message: str):
        raise InputError(f"{self.prog}: {message}")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def add_attack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eps", type=positive_float, default=DEFAULT_EPS,
                        help=f"perturbation bound (default {DEFAULT_EPS}, in --eps-space units)")
    parser.add_argument("--eps-space", choices=("pixel", "normalized"), default="pixel",
                        help="pixel: |x'-x| <= eps on [0,1] pixels (default); normalized: after the model's mean/std, as the official code")
    parser.add_argument("--steps", type=positive_int, default=2000, help="attack iterations (default 2000, as the paper)")
    parser.add_argument("--n-t", type=positive_int, default=9, help="objects voted into DHTA's anchor (default 9)")
    parser.add_argument("--batch-size", type=positive_int, default=100, help="queries attacked per forward/backward (default 100)")
    parser.add_argument("--topk", type=positive_int, default=1000, help="R of MAP@R / t-MAP@R (default 1000)")
    parser.add_argument("--zero-relevance", choices=("zero", "drop"), default="zero",
                        help="queries with no relevant item in the top R: count as 0 (default) or drop (official code)")


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """Options that make the attacks faster without changing the method (see docs/speed.md)."""
    group = parser.add_argument_group("speed")
    group.add_argument("--early-stop", action="store_true",
                       help="stop attacking a query once its code equals its anchor (the official optimiser runs every step)")
    group.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                       help="bf16: the model's forward/backward under bfloat16 autocast (default fp32)")
    group.add_argument("--channels-last", action="store_true", help="channels-last memory format (GPU convolutions)")
    group.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    group.add_argument("--tf32", action="store_true", help="TF32 matmuls and convolutions on Ampere+ GPUs")


def speed_settings(args: argparse.Namespace) -> dict:
    """AttackSettings keywords from `add_speed_options`; turns TF32 on when asked."""
    if args.tf32:
        from hashattack.models.acceleration import enable_tf32

        enable_tf32()
    return {"early_stop": args.early_stop, "precision": args.precision, "channels_last": args.channels_last,
            "compile": args.compile}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queries", type=positive_int, default=100, help="queries drawn from the query set (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of queries, targets, anchors and noise (default 0)")
    parser.add_argument("--manifest", type=Path, help="re-run exactly the queries/targets/anchors of a manifest.json")
    parser.add_argument("--data", type=Path, help="folder with the Fashion-MNIST IDX .gz files (default: the Debian package's)")
    parser.add_argument("--train-per-class", type=positive_int, default=2000, help="training images per class (default 2000)")
    parser.add_argument("--epochs", type=positive_int, default=10, help="training epochs of the default model (default 10)")
    parser.add_argument("--cache-dir", type=Path, help="trained-model cache (default $HASHATTACK_CACHE or ~/.cache/hashattack)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--force", action="store_true",
                        help="start the run folder over; without it a killed run resumes after its last finished "
                             "batch, and a folder holding a run with other settings is refused")


def build_parser() -> argparse.ArgumentParser:
    from hashattack.cli.commands import COMMAND_MODULES

    parser = OneLineParser(prog="hashattack", description="Targeted attacks on deep-hashing retrieval (DHTA and baselines).")
    parser.add_argument("--version", action="version", version=f"hashattack {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in COMMAND_MODULES:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code = args.run(args)
        if code == 0 and args.command != "run":
            from hashattack.cli.config import keep_resolved_config

            keep_resolved_config(args)  # the run folder keeps every option it ran with
        return code
    except InputError as exc:
        print(f"hashattack: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hashattack: interrupted", file=sys.stderr)
        return 130
