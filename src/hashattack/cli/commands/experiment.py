"""`hashattack experiment PRESET`: a paper experiment shipped as a TOML preset, with the options you add.

`hashattack experiment bits --queries 100` and `hashattack run configs/bits.toml --set queries=100`
are the same run: the preset names its command and options, the options given here override them.
"""

from __future__ import annotations

import argparse

from hashattack.cli.config import load_config, option_actions, parse_config_run
from hashattack.cli.options import add_spec_options
from hashattack.cli.parsing import subcommand_parser
from hashattack.errors import InputError
from hashattack.protocol.presets import preset_names, preset_path

NOT_OPTIONS = ("preset", "run", "command")


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "experiment", help="run one of the paper's experiments (bits, bits-multilabel, eps, feature, nt, open-set, "
                           "video-bits, video-eps) into a run folder",
        description="Run a preset: a TOML run config shipped with hashattack (the same files as configs/*.toml). "
                    "Options given here override the preset's.\n"
                    "  bits        Original/Noise/P2P/DHTA t-MAP and Original MAP per code length (Table 1)\n"
                    "  bits-multilabel  Table 1 on the multi-label mosaics (NUS-WIDE's analogue, HashNet loss)\n"
                    "  eps         DHTA t-MAP at one code length for several eps (Table 2)\n"
                    "  feature     the feature-based attack vs DHTA per code length (Table 3)\n"
                    "  nt          DHTA t-MAP as n_t varies (1, 3, ..., 15)\n"
                    "  open-set    train on classes 0-4, target only the others (appendix Fig. 2)\n"
                    "  video-bits  Table 1 on the embedded video clips; video-eps: Table 2 on them",
        epilog="examples:\n"
               "  hashattack experiment bits --queries 100\n"
               "  hashattack experiment bits-multilabel          # Table 1 on multi-label mosaics, HashNet loss\n"
               "  hashattack experiment eps --eps 0.02 0.05 0.1 0.15 0.2\n"
               "  hashattack experiment bits --dataset imagenet100 --root /data/imagenet --weights ~/.cache/torch\n"
               "  hashattack experiment bits --checkpoint models/fmnist-32.pt --bits 32   # your trained model",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", choices=preset_names(), help="which experiment")
    add_spec_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    config = load_config(preset_path(args.preset))
    given = {dest: value for dest, value in vars(args).items() if dest not in NOT_OPTIONS and value is not None}
    if ("checkpoint" in given or "model" in given) and "bits" not in given:
        config.options.pop("bits", None)   # a given model has its own code length
    config.options.update(given)
    known = option_actions(subcommand_parser(parser, config.command))
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InputError(f"the {args.preset} preset runs `hashattack {config.command}`, which has no "
                         f"{', '.join('--' + k.replace('_', '-') for k in unknown)}")
    sub_args = parse_config_run(parser, config)
    return sub_args.run(sub_args, parser)
