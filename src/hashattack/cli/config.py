"""Experiment configs: a run or a sweep of any `hashattack` subcommand, described in a TOML file.

    command = "demo"          # the subcommand to run
    bits = 32                 # every other top-level key is one of its options:
    eps = 0.1                 #   the option's name without "--", dashes or underscores
    eps-space = "pixel"
    out = "runs/demo"

    [sweep]                   # optional: one run per value (several keys: every combination)
    eps = [0.05, 0.1, 0.2]    #   run i goes to <out>/eps-<value>; the report draws t-MAP vs ε

Keys are mapped onto the subcommand's own argparse options, so every command-line option has its
config key with the same checks and defaults, and a new option needs no change here. Flags take
true/false, options taking several values take a list, relative paths are relative to the
current folder (as on the command line). `--set KEY=VALUE` overrides a key (VALUE is read as a
TOML value, else as a string; `sweep.KEY=[...]` replaces a sweep's values) and `--unset KEY`
drops one (the command's default applies), e.g. to run a paper config on the embedded default. The folder of each
run receives `config.resolved.toml`: every option with the value it ran with.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hashattack.errors import InputError

RESOLVED_NAME = "config.resolved.toml"
SKIPPED_ACTIONS = (argparse._HelpAction, argparse._VersionAction)


@dataclass
class Config:
    """A parsed config: the subcommand, its options (TOML keys) and the sweep axes."""

    command: str
    options: dict
    sweep: dict = field(default_factory=dict)
    source: str = "<config>"


def load_config(path: str | Path, overrides: list[str] = (), unset: list[str] = ()) -> Config:
    """Read a TOML config, remove the `unset` keys (back to the command's defaults), apply `KEY=VALUE` overrides."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: malformed TOML ({exc})") from None
    command = raw.pop("command", None)
    sweep = raw.pop("sweep", {})
    if not isinstance(sweep, dict):
        raise InputError(f"{path}: [sweep] must be a table of KEY = [values], got {type(sweep).__name__}")
    for key, value in raw.items():
        if isinstance(value, dict):
            raise InputError(f"{path}: unexpected table [{key}]: only [sweep] is allowed")
    options, sweep = _dests(raw, path), _dests(sweep, path)
    for key in unset:
        options.pop(key.replace("-", "_"), None)
    for text in overrides:
        key, value = parse_override(text)
        if key == "command":
            command = value
        elif key.startswith("sweep."):
            sweep[key.removeprefix("sweep.").replace("-", "_")] = value
        else:
            options[key.replace("-", "_")] = value
    if not isinstance(command, str) or not command:
        raise InputError(f"{path}: the config must name its subcommand, e.g. command = \"demo\"")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"{path}: sweep.{key} must be a non-empty list of values, got {values!r}")
    return Config(command, options, sweep, str(path))


def _dests(table: dict, path: Path) -> dict:
    """Keys with dashes turned into underscores (the argparse dests); two spellings of one key are refused."""
    out = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        if dest in out:
            raise InputError(f"{path}: key {key!r} is given twice (with dashes and with underscores)")
        out[dest] = value
    return out


def parse_override(text: str) -> tuple[str, object]:
    """`KEY=VALUE` -> (key, value); VALUE is a TOML value (2, 0.1, true, [1, 3]) or else a plain string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"override {text!r} must look like KEY=VALUE, e.g. steps=2")
    try:
        return key, tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()


def subcommand_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The argparse parser of `hashattack <command>`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if command not in action.choices:
                raise InputError(f"unknown command {command!r}: choose one of {', '.join(sorted(action.choices))}")
            return action.choices[command]
    raise InputError("this parser has no subcommands")


def option_actions(sub: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> argparse action of every option and positional argument of a subcommand."""
    return {a.dest: a for a in sub._actions if not isinstance(a, SKIPPED_ACTIONS)}


def config_keys(command: str) -> list[str]:
    """The config keys (argparse dests) `command` accepts."""
    from hashattack.cli.main import build_parser

    return sorted(option_actions(subcommand_parser(build_parser(), command)))


def to_argv(sub: argparse.ArgumentParser, command: str, options: dict, source: str) -> list[str]:
    """Turn config keys into the command line `[command, --option, value, ..., positionals]`."""
    actions = option_actions(sub)
    flags, positionals = [], []
    for key, value in options.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None:
            raise InputError(f"{source}: unknown key {key!r} for `hashattack {command}`; "
                             f"valid keys: {', '.join(sorted(actions))}")
        if not action.option_strings:
            positionals.append((list(actions).index(dest), _scalar(value, key, source)))
            continue
        name = max(action.option_strings, key=len)
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise InputError(f"{source}: {key} is a flag: write {key} = true or false, not {value!r}")
            if value == isinstance(action, argparse._StoreTrueAction):
                flags.append(name)
        elif isinstance(action, argparse._AppendAction):
            for item in value if isinstance(value, list) else [value]:
                flags.append(f"{name}={_scalar(item, key, source)}")
        elif isinstance(value, list):
            if action.nargs not in ("+", "*") and not isinstance(action.nargs, int):
                raise InputError(f"{source}: {key} takes one value, got the list {value!r}")
            flags += [name, *(_scalar(v, key, source) for v in value)]
        else:
            flags.append(f"{name}={_scalar(value, key, source)}")
    return [command, *flags, *(v for _, v in sorted(positionals))]


def _scalar(value, key: str, source: str) -> str:
    if isinstance(value, (dict, list)):
        raise InputError(f"{source}: {key} must be a single value, got {value!r}")
    if isinstance(value, bool):
        raise InputError(f"{source}: {key} is not a flag, got {value!r}")
    return str(value)


def parse_config_run(config: Config, options: dict | None = None) -> argparse.Namespace:
    """Parse one run of `config` (its options, or `options` when given) with the real CLI parser."""
    from hashattack.cli.main import build_parser

    parser = build_parser()
    sub = subcommand_parser(parser, config.command)
    argv = to_argv(sub, config.command, config.options if options is None else options, config.source)
    try:
        return parser.parse_args(argv)
    except InputError as exc:
        raise InputError(f"{config.source}: {exc}") from None


def sweep_points(config: Config) -> list[tuple[str, dict]]:
    """(sub-folder name, options) of each run of a sweep; [("", options)] without one."""
    if not config.sweep:
        return [("", dict(config.options))]
    if "out" not in config_keys(config.command):
        raise InputError(f"{config.source}: `hashattack {config.command}` has no --out, so it cannot be swept")
    base = Path(str(config.options.get("out", _default(config.command, "out"))))
    keys = list(config.sweep)
    points = []
    for values in itertools.product(*(config.sweep[k] for k in keys)):
        name = "_".join(f"{k.replace('-', '_')}-{v}" for k, v in zip(keys, values))
        points.append((name, {**config.options, **dict(zip(keys, values)), "out": str(base / name)}))
    return points


def _default(command: str, dest: str):
    from hashattack.cli.main import build_parser

    return subcommand_parser(build_parser(), command).get_default(dest)


def resolved_options(args: argparse.Namespace, command: str) -> dict:
    """Every option of `command` with the value `args` holds (None left out: TOML has no null)."""
    from hashattack.cli.main import build_parser

    dests = option_actions(subcommand_parser(build_parser(), command))
    values = {}
    for dest in dests:
        value = getattr(args, dest, None)
        if value is not None:
            values[dest] = [_plain(v) for v in value] if isinstance(value, (list, tuple)) else _plain(value)
    return values


def keep_resolved_config(args: argparse.Namespace) -> Path | None:
    """Write `config.resolved.toml` into the run folder (`args.out`) of a finished command, if it has one."""
    from hashattack.files import atomic_write_text

    command, out = getattr(args, "command", None), getattr(args, "out", None)
    if command is None or out is None or not Path(out).is_dir():
        return None
    path = Path(out) / RESOLVED_NAME
    atomic_write_text(path, to_toml(command, resolved_options(args, command)))
    return path


def _plain(value):
    return str(value) if isinstance(value, Path) else value


def to_toml(command: str, options: dict, sweep: dict | None = None) -> str:
    """A config as TOML text (what `load_config` reads back)."""
    lines = [f"command = {_toml_value(command)}"] + [f"{k} = {_toml_value(v)}" for k, v in sorted(options.items())]
    if sweep:
        lines += ["", "[sweep]"] + [f"{k} = {_toml_value(v)}" for k, v in sweep.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


__all__ = ["Config", "load_config", "parse_override", "config_keys", "to_argv", "parse_config_run", "sweep_points",
           "resolved_options", "to_toml", "keep_resolved_config", "RESOLVED_NAME"]
