"""TOML experiment configs: key mapping onto the CLI options, overrides, sweeps, resolved configs, and
configs/demo.toml run at tiny size on the Fashion-MNIST look-alike (the other configs/*.toml are the
presets: test_engine.py runs each and holds run and experiment equal)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from engine_helpers import model_cache, read_json
from hashattack.cli.config import config_keys, load_config, parse_config_run, parse_override, to_toml
from hashattack.cli.main import build_parser, main
from hashattack.cli.options import spec_from_args

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_keys_map_onto_the_subcommand_options(tmp_path):
    path = write(tmp_path, 'command = "demo"\nbits = 16\neps-space = "normalized"\nn_t = 3\nquiet = true\nout = "x"\n'
                           'data = "d"\n')
    args = parse_config_run(build_parser(), load_config(path, ["steps=7", "eps=0.05"]))
    assert (args.bits, args.eps_space, args.n_t, args.quiet, args.steps, args.eps) == ([16], "normalized", [3], True, [7], [0.05])
    assert str(args.out) == "x" and str(args.root) == "d"   # `data`: the --data/--root option under its first name
    assert args.topk is None and spec_from_args(args).resolved().attack.topk == 1000   # defaults come from the spec
    assert {"bits", "eps", "eps_space", "n_t", "steps", "out", "quiet", "root"} <= set(config_keys(build_parser(), "demo"))


@pytest.mark.parametrize("text, overrides, message", [
    ('bits = 16\n', [], "must name its subcommand"),
    ('command = "nope"\n', [], "unknown command 'nope'"),
    ('command = "demo"\nbitz = 16\n', [], "unknown key 'bitz' for `hashattack demo`"),
    ('command = "demo"\nsteps = 0\n', [], "argument --steps: expected a positive integer, got 0"),
    ('command = "demo"\nquiet = "yes"\n', [], "quiet is a flag"),
    ('command = "demo"\ntopk = [1, 2]\n', [], "topk takes one value"),      # eps = [..] is a sweep now
    ('command = "demo"\ndata = "a"\nroot = "b"\n', [], "'data' and 'root' are one option"),
    ('command = "demo"\n[sweep]\ntopk = [1, 2]\n', [], "cannot sweep 'topk'"),
    ('command = "demo"\neps = [0.1]\n[sweep]\neps = [0.1, 0.2]\n', [], "eps is given both as an option and in [sweep]"),
    ('command = "demo"\nbits = [16, 32]\ncheckpoint = "m.pt"\n', [], "a checkpoint has one code length"),
    ('command = "demo"\nn-t = 3\nn_t = 4\n', [], "given twice"),
    ('command = "demo"\n[sweep]\neps = 0.1\n', [], "sweep.eps must be a non-empty list"),
    ('command = "demo"\n[other]\nx = 1\n', [], "only [sweep] is allowed"),
    ('command = "demo"\nbits = \n', [], "malformed TOML"),
    ('command = "demo"\n', ["steps"], "must look like KEY=VALUE"),
])
def test_bad_configs_are_one_line_errors(tmp_path, capsys, text, overrides, message):
    path = write(tmp_path, text)
    assert main(["run", str(path), *sum((["--set", o] for o in overrides), [])]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("hashattack: error: ") and err.count("\n") == 1


def test_unset_drops_a_key_back_to_its_default(tmp_path):
    path = write(tmp_path, 'command = "demo"\nsteps = 7\nn-t = 3\n')
    args = parse_config_run(build_parser(), load_config(path, ["steps=5"], ["n-t", "topk"]))
    assert args.steps == [5] and args.n_t is None and spec_from_args(args).attack.n_t == 9


def test_overrides_are_toml_values_or_strings():
    assert parse_override("steps=2") == ("steps", 2)
    assert parse_override("sweep.n_t=[1, 3]") == ("sweep.n_t", [1, 3])
    assert parse_override("quiet=true") == ("quiet", True)
    assert parse_override("out=runs/a b") == ("out", "runs/a b")


def test_sweep_points_and_resolved_round_trip(tmp_path):
    path = write(tmp_path, 'command = "demo"\nout = "runs/s"\n[sweep]\neps = [0.1, 0.2]\nn-t = [1, 3]\n')
    config = load_config(path)
    assert config.sweep == {"eps": [0.1, 0.2], "n_t": [1, 3]}
    spec = spec_from_args(parse_config_run(build_parser(), config))
    points = spec.points()
    assert [p.name for p in points] == ["eps-0.1_n_t-1", "eps-0.1_n_t-3", "eps-0.2_n_t-1", "eps-0.2_n_t-3"]
    assert points[3].values == {"eps": 0.2, "n_t": 3} and points[3].spec.attack.n_t == 3
    assert points[3].spec.attack.eps == 0.2 and spec.controls.out == str(Path("runs/s"))
    text = to_toml("demo", {"eps": 0.1, "quiet": False, "bits": 16, "out": "a\"b", "ks": [1, 2], "n_t": [1, 3]})
    assert tomllib.loads(text) == {"command": "demo", "bits": 16, "eps": 0.1, "ks": [1, 2], "out": 'a"b', "quiet": False,
                                   "n_t": [1, 3]}
    assert load_config(write(tmp_path, text, "back.toml")).sweep == {"n_t": [1, 3]}


def test_dry_run_prints_the_command_line_and_the_sub_runs(tmp_path, capsys):
    path = write(tmp_path, 'command = "demo"\nbits = 16\nout = "o"\n[sweep]\neps = [0.1, 0.2]\n')
    assert main(["run", str(path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["hashattack demo --bits=16 --out=o --eps 0.1 0.2",
                     "  fashion-mnist: eps 0.1 0.2 (pixel space), 2000 steps of 1, n_t 9, MAP@1000, main convention "
                     "zero (drop beside it), paired targets",
                     f"  {Path('o') / 'eps-0.1'}", f"  {Path('o') / 'eps-0.2'}"]
    assert not (tmp_path / "o").exists() and not Path("o").exists()


def test_demo_config_runs_at_tiny_size_and_its_resolved_config_reruns_it(fake_fmnist, tmp_path_factory, tmp_path):
    """The documented tiny override of a config, then its config.resolved.toml run again: the same run, resumed."""
    config = CONFIGS[[c.stem for c in CONFIGS].index("demo")]
    cache, out = model_cache(tmp_path_factory), tmp_path / "out"
    sets = {"data": str(fake_fmnist), "train_per_class": 5, "epochs": 1, "steps": 2, "queries": 4, "bits": 16,
            "batch_size": 2, "topk": 50, "cache_dir": str(cache), "out": str(out)}
    assert main(["run", str(config), "--quiet", "--set", "no-figures=true", "--unset", "zero-relevance",
                 *sum((["--set", f"{k}={json.dumps(v)}"] for k, v in sets.items()), [])]) == 0
    results = read_json(out / "results.json")
    assert results["settings"]["steps"] == 2 and results["num_queries"] == 4 and results["settings"]["topk"] == 50
    resolved = load_config(out / "config.resolved.toml")
    assert resolved.command == "demo" and resolved.options["out"] == str(out) and resolved.options["root"] == str(fake_fmnist)
    again = parse_config_run(build_parser(), resolved)
    assert again.steps == [2] and again.root == fake_fmnist and again.no_figures is True
    first = (out / "results.json").read_bytes()
    assert main(["run", str(out / "config.resolved.toml")]) == 0
    assert (out / "results.json").read_bytes() == first
    assert read_json(out / "timing.json")["batches_attacked"] == 0
