"""`hashattack run CONFIG.toml`: a run or a sweep of any subcommand described in a TOML file."""

from __future__ import annotations

import argparse
from pathlib import Path

from hashattack.cli.config import config_keys, load_config, parse_config_run, to_argv
from hashattack.cli.options import spec_from_args
from hashattack.cli.parsing import subcommand_parser
from hashattack.errors import InputError
from hashattack.retrieval.metrics import OTHER_CONVENTION


def add_parser(commands) -> None:
    run_cmd = commands.add_parser(
        "run", help="run an experiment (or a sweep of runs) described in a TOML config file",
        description="Run the subcommand a TOML config names with the options it sets (keys = option names, "
                    "dashes or underscores). Axes with several values (bits, eps, n_t, steps, given as a list "
                    "or in a [sweep] table) run one sub-run per value into <out>/<axis>-<value>, then the "
                    "sweep's table and report. Each run folder keeps config.resolved.toml, every option with "
                    "the value it ran with, which `hashattack run` accepts again.",
        epilog="examples:\n"
               "  hashattack run configs/demo.toml\n"
               "  hashattack run configs/eps.toml --set queries=20 --set out=runs/eps-small\n"
               "  hashattack run configs/nt.toml --set 'n_t=[1, 9]' --set steps=200\n"
               "tiny smoke run of any config (what the test suite does):\n"
               "  hashattack run configs/bits.toml --set steps=2 --set queries=4 --set epochs=1 --set 'bits=[16, 32]'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run_cmd.add_argument("config", type=Path, metavar="CONFIG", help="TOML file: command = \"...\" plus its options")
    run_cmd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override a config key (repeatable); VALUE is TOML (2, 0.1, true, [1, 3]) or a string")
    run_cmd.add_argument("--unset", action="append", default=[], metavar="KEY",
                         help="drop a config key so the command's default applies (repeatable), e.g. a dataset root")
    run_cmd.add_argument("--dry-run", action="store_true",
                         help="print the command line the config resolves to (and a sweep's sub-runs), run nothing")
    run_cmd.add_argument("--quiet", action="store_true", help="no progress bars (sets quiet = true)")
    run_cmd.add_argument("--allow-code", action="store_true",
                         help="let the config import and run the model factory it names (model, model-path, "
                              "model-arg); without it such a config is refused and nothing runs")
    run_cmd.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    chain = (*getattr(args, "config_chain", ()), args.config)   # configs running configs (command = "run")
    seen = [Path(p).resolve() for p in chain[:-1]]
    if Path(args.config).resolve() in seen:
        cycle = " -> ".join(str(p) for p in chain[seen.index(Path(args.config).resolve()):])
        raise InputError(f"config {args.config} runs itself: {cycle}")
    config = load_config(args.config, args.set, args.unset, allow_code=args.allow_code)
    if args.quiet and "quiet" in config_keys(parser, config.command):
        config.options["quiet"] = True
    sub_args = parse_config_run(parser, config)   # every option checked before anything runs
    if config.command == "run":   # a config that runs another: the command line's permission and the chain go with it
        sub_args.allow_code, sub_args.config_chain = args.allow_code, chain
    if args.dry_run:
        sub = subcommand_parser(parser, config.command)
        folders, settings = [], None
        if hasattr(sub_args, "out") and config.command in ("demo", "video", "audit"):
            spec = spec_from_args(sub_args)   # checks the sweep (at most MAX_SWEEP_POINTS) before printing
            folders = [Path(spec.controls.out) / point.name for point in spec.points() if point.name]
            settings = resolved_settings(spec.resolved())
        print("hashattack " + " ".join(to_argv(sub, config.command, config.options, config.source)))
        if settings:
            print(f"  {settings}")
        for folder in folders:
            print(f"  {folder}")
        return 0
    return sub_args.run(sub_args, parser)


def resolved_settings(spec) -> str:
    """One line of the settings a spec runs with once the dataset's defaults are in (what --dry-run shows)."""
    attack, axes = spec.attack, dict(spec.axes)
    eps = " ".join(f"{e:g}" for e in axes.get("eps", (attack.eps,)))
    steps = " ".join(str(n) for n in axes.get("steps", (attack.steps,)))
    other = OTHER_CONVENTION[attack.zero_relevance]
    return (f"{spec.data.dataset}: eps {eps} ({attack.eps_space} space), {steps} steps of {attack.step_size:g}, "
            f"n_t {attack.n_t}, MAP@{attack.topk}, main convention {attack.zero_relevance} "
            f"({other} beside it), {spec.target_protocol} targets")
