"""`hashattack video`: DHTA and its baselines against video hashing models (appendix B/C, Tables 1-3, Fig. 1)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hashattack.cli.attacking import run_attack_command
from hashattack.cli.options import add_spec_options


def add_parser(commands) -> None:
    video = commands.add_parser(
        "video", help="attack a video hashing model (embedded Moving Fashion-MNIST, JHMDB or UCF-101)",
        description="Train (or reuse) a video hashing model (frozen frame encoder + LSTM + hash layer, Deep Video "
                    "Hashing objective), run Original, Noise, P2P and DHTA on the same queries and targets, and write "
                    "the tables, appendix Fig. 1 (figures/frames.png) and the report into the run folder. The "
                    "paper's video tables are presets: `hashattack experiment video-bits` and `video-eps`.",
        epilog="examples:\n"
               "  hashattack video --bits 32 --queries 100 --out runs/video\n"
               "  hashattack video --bits 16 32 48 64 --out runs/video-bits\n"
               "  hashattack video --dataset jhmdb --root JHMDB/frames --weights ~/.cache/torch/hub/checkpoints \\\n"
               "      --eps-sweep --out runs/jhmdb-eps   # Table 2: eps 0.01 ... 0.05 normalized, 2000 unit steps\n"
               "on jhmdb / ucf101 every default is the paper's: eps 0.032 normalized, 2000 steps of 1.0, the official\n"
               "zero-relevance convention (drop) as the tables' main column (docs/conventions.md)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_options(video)
    video.set_defaults(run=run_attack_command, dataset="moving-fashion", out=Path("runs/video"))
