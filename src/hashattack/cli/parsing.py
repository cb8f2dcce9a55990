"""argparse that reports a usage error on one line (exit 2 through `hashattack.cli.main`)."""

from __future__ import annotations

import argparse

from hashattack.errors import InputError


class OneLineParser(argparse.ArgumentParser):
    """argparse that raises InputError instead of printing usage and exiting."""

    def error(self, message: str):
        raise InputError(f"{self.prog}: {message}")


def subcommand_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The argparse parser of `hashattack <command>`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if command not in action.choices:
                raise InputError(f"unknown command {command!r}: choose one of {', '.join(sorted(action.choices))}")
            return action.choices[command]
    raise InputError("this parser has no subcommands")


__all__ = ["OneLineParser", "subcommand_parser"]
