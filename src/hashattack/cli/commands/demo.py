"""`hashattack demo`: the embedded end-to-end run on Fashion-MNIST (the README's `make demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hashattack.cli.attacking import run_attack_command
from hashattack.cli.options import add_spec_options


def add_parser(commands) -> None:
    demo = commands.add_parser(
        "demo", help="train the default model on Fashion-MNIST, attack it, print the t-MAP/MAP table",
        description="Train (or reuse) the small CNN hashing model on Fashion-MNIST, run Original, Noise, "
                    "P2P and DHTA on the same queries and targets, and print the paper's Table 1 layout. "
                    "Every option of the experiment engine applies: another dataset, --checkpoint, --model, "
                    "several --bits / --eps / --n-t / --steps values (a sweep), the speed options.",
        epilog="examples:\n"
               "  hashattack demo --bits 32 --queries 100 --eps 0.2 --out runs/demo\n"
               "  hashattack demo --checkpoint models/fmnist-32.pt --out runs/mine\n"
               "  hashattack demo --eps 0.1 0.2 --out runs/eps   # a sweep: runs/eps/eps-0.1, runs/eps/eps-0.2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_options(demo)
    demo.set_defaults(run=run_attack_command, dataset="fashion-mnist", out=Path("runs/demo"))
