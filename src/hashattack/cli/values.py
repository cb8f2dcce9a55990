"""Value types of command-line options: each refuses a bad value on one line (argparse's
`argument --x: ...`, exit 2) before anything runs, instead of a traceback half-way through a run.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from hashattack.errors import InputError
from hashattack.validation import MAX_COUNT, MAX_JSON_DEPTH, MAX_SEED, check_device, check_seed, parse_text


def path_value(text: str) -> Path:
    """A file or folder path: an empty one (which would mean the current folder) is refused."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a file or folder path, got {text!r}")
    return Path(text)


def at_most(limit: int):
    """The type of an option taking a positive integer up to `limit` (a named bound in `validation`)."""
    def count(text: str) -> int:
        shown = text if len(text) <= 40 else text[:40] + "…"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {shown!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {shown}")
        if value > limit:
            raise argparse.ArgumentTypeError(f"expected a positive integer of at most {limit:,}, got {shown}")
        return value
    count.__name__ = "positive_int"   # argparse names the type in its messages
    return count


positive_int = at_most(MAX_COUNT)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def seed_value(text: str) -> int:
    """A seed: an integer from 0 to 2**32 - 1 (`1.7`, `-1` and `2**70` are refused)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}, got {text!r}") from None
    try:
        return check_seed(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def device_name(text: str) -> str:
    """A torch device this machine has (cpu, cuda, cuda:N, mps)."""
    try:
        return check_device(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_value(text: str):
    """A KEY=VALUE value: TOML (2, 0.1, true, "x", [1, 3]) or else a plain string."""
    try:
        return parse_text("toml", f"v = {text.strip()}", "the command line", "value")["v"]
    except InputError as exc:
        if "nested deeper" in str(exc):   # not a plain string either: refused
            raise InputError(f"override value {text.strip()[:40]!r}…: nested deeper than {MAX_JSON_DEPTH} levels") from None
        return text.strip()


def parse_pairs(texts: list[str] | None, what: str) -> dict:
    out = {}
    for text in texts or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{what} {text!r} must look like KEY=VALUE, e.g. bits=48")
        out[key.strip()] = parse_value(value)
    return out


__all__ = ["at_most", "positive_int", "positive_float", "seed_value", "device_name", "parse_value", "parse_pairs"]
