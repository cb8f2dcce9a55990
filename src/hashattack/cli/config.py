"""Experiment configs: a run or a sweep of any `hashattack` subcommand, described in a TOML file.

    command = "demo"          # the subcommand to run
    bits = 32                 # every other top-level key is one of its options:
    eps = 0.1                 #   the option's name without "--", dashes or underscores
    eps-space = "pixel"
    out = "runs/demo"

    [sweep]                   # optional: axes with several values (bits, eps, n_t, steps);
    eps = [0.05, 0.1, 0.2]    #   the same as `eps = [0.05, 0.1, 0.2]` above, or --eps 0.05 0.1 0.2:
                              #   run i goes to <out>/eps-<value>; the report draws t-MAP vs ε

Keys are mapped onto the subcommand's own argparse options, so every command-line option has its
config key with the same checks and defaults, and a new option needs no change here. Flags take
true/false, options taking several values take a list, relative paths are relative to the
current folder (as on the command line). `--set KEY=VALUE` overrides a key (VALUE is read as a
TOML value, else as a string; `sweep.KEY=[...]` sets an axis) and `--unset KEY` drops one (the
command's default applies), e.g. to run a paper config on the embedded default. A run folder
receives `config.resolved.toml`: every option with the value it ran with.

A config file cannot make hashattack import and run code on its own: the keys that name a model
factory or where to import it from (`model`, `model-path`, `model-arg`) are refused unless the
command line allows them (`hashattack run CONFIG --allow-code`) or sets them itself (`--set`).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from hashattack.cli.options import parse_value
from hashattack.cli.parsing import subcommand_parser
from hashattack.errors import InputError
from hashattack.files import atomic_write_text
from hashattack.protocol.spec import SWEEP_AXES
from hashattack.run_format import CONFIG_FILE
from hashattack.validation import read_toml

SKIPPED_ACTIONS = (argparse._HelpAction, argparse._VersionAction)
CODE_KEYS = ("model", "model_path", "model_arg")   # a factory imported and called, where from, its arguments
COMMAND_LINE_ONLY = ("allow_code",)                # a permission only the person running the command gives


@dataclass
class Config:
    """A parsed config: the subcommand and its options (TOML keys as argparse dests; axes as lists)."""

    command: str
    options: dict
    source: str = "<config>"

    @property
    def sweep(self) -> dict:
        """The options that are axes with several values."""
        return {k: v for k, v in self.options.items() if k in SWEEP_AXES and isinstance(v, list) and len(v) > 1}


def load_config(path: str | Path, overrides: list[str] = (), unset: list[str] = (),
                allow_code: bool = False) -> Config:
    """Read a TOML config, remove the `unset` keys (back to the command's defaults), apply `KEY=VALUE` overrides.

    A file naming code (`CODE_KEYS`) is refused unless `allow_code` (the command line's --allow-code);
    the overrides come from the command line and may name it."""
    path = Path(path)
    raw = read_toml(path, "TOML config")   # a regular file, size and nesting bounded, a byte-order mark skipped
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
    refuse_code(options, path, allow_code)
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
        if key not in SWEEP_AXES:
            raise InputError(f"{path}: cannot sweep {key!r}: the axes are {', '.join(SWEEP_AXES)}")
        if not isinstance(values, list) or not values:
            raise InputError(f"{path}: sweep.{key} must be a non-empty list of values, got {values!r}")
        if key in options and options[key] != values:
            raise InputError(f"{path}: {key} is given both as an option and in [sweep]")
        options[key] = values
    return Config(command, options, str(path))


def refuse_code(options: dict, path: Path, allow_code: bool) -> None:
    """A config file's keys that would import or run code, refused without --allow-code on the command line."""
    for key in COMMAND_LINE_ONLY:
        if key in options:
            raise InputError(f"{path}: {key.replace('_', '-')} cannot be set in a config file: give "
                             f"--{key.replace('_', '-')} on the command line")
    named = [key for key in CODE_KEYS if key in options]
    if named and not allow_code:
        key = named[0].replace("_", "-")
        raise InputError(f"{path}: key {key!r} ({options[named[0]]!r}) names code to import and run; a config "
                         f"may do that only if you allow it: hashattack run {path} --allow-code")


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
    return key, parse_value(value)


def option_actions(sub: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> argparse action of every option and positional argument of a subcommand."""
    return {a.dest: a for a in sub._actions if not isinstance(a, SKIPPED_ACTIONS)}


def config_keys(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """The config keys (argparse dests) `command` accepts."""
    return sorted(option_actions(subcommand_parser(parser, command)))


def to_argv(sub: argparse.ArgumentParser, command: str, options: dict, source: str) -> list[str]:
    """Turn config keys into the command line `[command, --option, value, ..., positionals]`."""
    actions = option_actions(sub)
    aliases = {name.lstrip("-").replace("-", "_"): action for action in actions.values()
               for name in action.option_strings if name.startswith("--")}   # data = ... for --data/--root
    flags, positionals, seen = [], [], {}
    for key, value in options.items():
        dest = key.replace("-", "_")
        action = actions.get(dest) or aliases.get(dest)
        if action is None:
            raise InputError(f"{source}: unknown key {key!r} for `hashattack {command}`; "
                             f"valid keys: {', '.join(sorted(actions))}")
        if action.dest in seen:
            raise InputError(f"{source}: {seen[action.dest]!r} and {key!r} are one option: give one of them")
        seen[action.dest] = key
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


def parse_config_run(parser: argparse.ArgumentParser, config: Config) -> argparse.Namespace:
    """Parse `config` with the real CLI parser (every option checked as on the command line)."""
    sub = subcommand_parser(parser, config.command)
    argv = to_argv(sub, config.command, config.options, config.source)
    try:
        return parser.parse_args(argv)
    except InputError as exc:
        raise InputError(f"{config.source}: {exc}") from None


def resolved_options(args: argparse.Namespace, sub: argparse.ArgumentParser) -> dict:
    """Every option of a subcommand with the value `args` holds (None left out: TOML has no null)."""
    values = {}
    for dest in option_actions(sub):
        value = getattr(args, dest, None)
        if value is not None:
            values[dest] = [_plain(v) for v in value] if isinstance(value, (list, tuple)) else _plain(value)
    return values


def keep_resolved_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Path | None:
    """Write `config.resolved.toml` into the run folder (`args.out`) of a finished command, if it has one."""
    command, out = getattr(args, "command", None), getattr(args, "out", None)
    if command is None or out is None or not Path(out).is_dir():
        return None
    path = Path(out) / CONFIG_FILE
    atomic_write_text(path, to_toml(command, resolved_options(args, subcommand_parser(parser, command))))
    return path


def _plain(value):
    return str(value) if isinstance(value, Path) else value


def to_toml(command: str, options: dict) -> str:
    """A config as TOML text (what `load_config` reads back)."""
    lines = [f"command = {_toml_value(command)}"] + [f"{k} = {_toml_value(v)}" for k, v in sorted(options.items())]
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


__all__ = ["Config", "load_config", "refuse_code", "CODE_KEYS", "parse_override", "config_keys", "to_argv", "parse_config_run",
           "resolved_options", "to_toml", "keep_resolved_config"]
