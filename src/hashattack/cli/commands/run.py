"""`hashattack run CONFIG.toml`: a run or a sweep of any subcommand described in a TOML file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(commands) -> None:
    run_cmd = commands.add_parser(
        "run", help="run an experiment (or a sweep of runs) described in a TOML config file",
        description="Run the subcommand a TOML config names with the options it sets (keys = option names, "
                    "dashes or underscores). A [sweep] table runs one sub-run per value into <out>/<key>-<value> "
                    "and then writes the report with t-MAP curves. Each run folder keeps config.resolved.toml, "
                    "every option with the value it ran with, which `hashattack run` accepts again.",
        epilog="examples:\n"
               "  hashattack run configs/demo.toml\n"
               "  hashattack run configs/eps.toml --set queries=20 --set out=runs/eps-small\n"
               "  hashattack run configs/nt.toml --set 'sweep.n_t=[1, 9]' --set steps=200\n"
               "tiny smoke run of any config (what the test suite does):\n"
               "  hashattack run configs/bits.toml --set steps=2 --set queries=4 --set epochs=1 --set 'sweep.bits=[16]'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run_cmd.add_argument("config", type=Path, metavar="CONFIG", help="TOML file: command = \"...\" plus its options")
    run_cmd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override a config key (repeatable); VALUE is TOML (2, 0.1, true, [1, 3]) or a string; "
                              "sweep.KEY=[...] replaces a sweep's values")
    run_cmd.add_argument("--unset", action="append", default=[], metavar="KEY",
                         help="drop a config key so the command's default applies (repeatable), e.g. a dataset root")
    run_cmd.add_argument("--dry-run", action="store_true", help="print the command lines the config resolves to, run nothing")
    run_cmd.add_argument("--quiet", action="store_true", help="no progress bars (sets quiet = true in every run)")
    run_cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hashattack.cli.config import (RESOLVED_NAME, config_keys, keep_resolved_config, load_config, parse_config_run,
                                   resolved_options, sweep_points, to_argv, to_toml)
    from hashattack.files import atomic_write_text

    config = load_config(args.config, args.set, args.unset)
    keys = config_keys(config.command)
    if args.quiet and "quiet" in keys:
        config.options["quiet"] = True
    points = sweep_points(config)
    parsed = [(name, options, parse_config_run(config, options)) for name, options in points]  # all checked first
    if args.dry_run:
        from hashattack.cli.main import build_parser
        from hashattack.cli.config import subcommand_parser

        sub = subcommand_parser(build_parser(), config.command)
        for _, options, _ in parsed:
            print("hashattack " + " ".join(to_argv(sub, config.command, options, config.source)))
        return 0
    started = time.perf_counter()
    for name, options, sub_args in parsed:
        if name and not getattr(sub_args, "quiet", False):
            print(f"== {config.source}: run {name}")
        code = sub_args.run(sub_args)
        if code:
            return code
        keep_resolved_config(sub_args)
    if config.sweep:
        from hashattack.reporting.report import write_report
        from hashattack.reporting.summary import run_summary

        base = Path(str(config.options.get("out", parsed[0][2].out.parent)))
        first = resolved_options(parsed[0][2], config.command)
        first["out"] = str(base)
        for key in config.sweep:
            first.pop(key, None)
        atomic_write_text(base / RESOLVED_NAME, to_toml(config.command, first, config.sweep))
        write_report(base)
        print(run_summary(base, seconds=time.perf_counter() - started,
                          note=f"sweep over {', '.join(config.sweep)}: {len(parsed)} runs"), end="")
    return 0
