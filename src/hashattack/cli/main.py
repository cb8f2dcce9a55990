"""The `hashattack` command line: a thin layer over the library.

Exit status: 0 done; 2 bad input (one line `hashattack: error: ...` naming the file, line or value,
never a traceback); 3 an I/O failure (a disk full, a read-only or immutable folder, a name too long,
a path the system refuses: one line `hashattack: error: <path>: <cause> (<ERRNO>)`; files written
before stay whole, since every file is written atomically); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import errno
import sys

from hashattack import __version__
from hashattack.cli.commands import COMMAND_MODULES
from hashattack.cli.parsing import OneLineParser
from hashattack.errors import InputError

IO_ERROR = 3   # the exit status of an I/O failure


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
    except OSError as exc:
        print(f"hashattack: error: {io_error_line(exc)}", file=sys.stderr)
        return IO_ERROR


def io_error_line(exc: OSError) -> str:
    """One line for an OSError: the path(s), the cause and its errno name, e.g.
    "runs/demo/results.json: No space left on device (ENOSPC)"."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    cause = exc.strerror or str(exc) or type(exc).__name__
    name = errno.errorcode.get(exc.errno) if exc.errno is not None else None
    text = f"{paths + ': ' if paths else ''}{cause}{f' ({name})' if name else ''}"
    return " ".join(text.split())


__all__ = ["main", "build_parser", "io_error_line", "IO_ERROR"]
