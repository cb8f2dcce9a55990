"""The `hashattack` command line: a thin layer over the library.

Bad input exits with status 2 and one line `hashattack: error: ...`, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from hashattack import __version__
from hashattack.cli.commands import COMMAND_MODULES
from hashattack.cli.parsing import OneLineParser
from hashattack.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="hashattack", description="Targeted attacks on deep-hashing retrieval (DHTA and baselines).")
    parser.add_argument("--version", action="version", version=f"hashattack {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in COMMAND_MODULES:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.run(args, parser)
    except InputError as exc:
        print(f"hashattack: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hashattack: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser"]
