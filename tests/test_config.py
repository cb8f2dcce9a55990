"""TOML experiment configs: key mapping onto the CLI options, overrides, sweeps, resolved configs,
and every example config under configs/ run at tiny size on the Fashion-MNIST look-alike."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from hashattack.cli.main import main
from hashattack.cli.config import (config_keys, load_config, parse_config_run, parse_override, sweep_points, to_toml)

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_keys_map_onto_the_subcommand_options(tmp_path):
    path = write(tmp_path, 'command = "demo"\nbits = 16\neps-space = "normalized"\nn_t = 3\nquiet = true\nout = "x"\n')
    args = parse_config_run(load_config(path, ["steps=7", "eps=0.05"]))
    assert (args.bits, args.eps_space, args.n_t, args.quiet, args.steps, args.eps) == (16, "normalized", 3, True, 7, 0.05)
    assert str(args.out) == "x" and args.topk == 1000  # defaults come from the CLI
    assert {"bits", "eps", "eps_space", "n_t", "steps", "out", "quiet", "data"} <= set(config_keys("demo"))


@pytest.mark.parametrize("text, overrides, message", [
    ('bits = 16\n', [], "must name its subcommand"),
    ('command = "nope"\n', [], "unknown command 'nope'"),
    ('command = "demo"\nbitz = 16\n', [], "unknown key 'bitz' for `hashattack demo`"),
    ('command = "demo"\nsteps = 0\n', [], "argument --steps: expected a positive integer, got 0"),
    ('command = "demo"\nquiet = "yes"\n', [], "quiet is a flag"),
    ('command = "demo"\neps = [0.1, 0.2]\n', [], "eps takes one value"),
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
    args = parse_config_run(load_config(path, ["steps=5"], ["n-t", "topk"]))
    assert args.steps == 5 and args.n_t == 9


def test_overrides_are_toml_values_or_strings():
    assert parse_override("steps=2") == ("steps", 2)
    assert parse_override("sweep.n_t=[1, 3]") == ("sweep.n_t", [1, 3])
    assert parse_override("quiet=true") == ("quiet", True)
    assert parse_override("out=runs/a b") == ("out", "runs/a b")


def test_sweep_points_and_resolved_round_trip(tmp_path):
    path = write(tmp_path, 'command = "demo"\nout = "runs/s"\n[sweep]\neps = [0.1, 0.2]\nn-t = [1, 3]\n')
    points = sweep_points(load_config(path))
    assert [name for name, _ in points] == ["eps-0.1_n_t-1", "eps-0.1_n_t-3", "eps-0.2_n_t-1", "eps-0.2_n_t-3"]
    assert points[3][1]["out"] == str(Path("runs/s") / "eps-0.2_n_t-3") and points[3][1]["n_t"] == 3
    text = to_toml("demo", {"eps": 0.1, "quiet": False, "bits": 16, "out": "a\"b", "ks": [1, 2]}, {"n_t": [1, 3]})
    assert tomllib.loads(text) == {"command": "demo", "bits": 16, "eps": 0.1, "ks": [1, 2], "out": 'a"b', "quiet": False,
                                   "sweep": {"n_t": [1, 3]}}


def test_dry_run_prints_the_command_lines(tmp_path, capsys):
    path = write(tmp_path, 'command = "demo"\nbits = 16\nout = "o"\n[sweep]\neps = [0.1, 0.2]\n')
    assert main(["run", str(path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"hashattack demo --bits=16 --out={Path('o') / 'eps-0.1'} --eps=0.1",
                     f"hashattack demo --bits=16 --out={Path('o') / 'eps-0.2'} --eps=0.2"]


PAPER_SCALE_KEYS = ("train_list", "database_list", "query_list", "weights", "arch")  # dropped on the embedded default
TINY = {"steps": 2, "queries": 4, "epochs": 1, "train_per_class": 20, "batch_size": 8, "topk": 50}


@pytest.fixture(scope="module")
def roomy_fmnist(tmp_path_factory):
    from conftest import make_fake_fashion_mnist

    return make_fake_fashion_mnist(tmp_path_factory.mktemp("fm20"), train_per_class=20, test_per_class=2)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_example_config_runs_at_tiny_size(config, roomy_fmnist, tmp_path):
    """The documented tiny override: --set steps=2 --set queries=4 ..., at most two values per sweep axis, and
    a paper-scale config moved onto the embedded default (--set dataset=fashion-mnist --unset weights ...)."""
    loaded = load_config(config)
    keys = config_keys(loaded.command)
    overrides = {**{k: v for k, v in TINY.items() if k in keys}, "out": str(tmp_path / "out"),
                 "cache_dir": str(tmp_path.parent / "config-cache")}
    for key in ("data", "root"):       # the embedded default's folder, whichever name the command gives it
        if key in keys:
            overrides[key] = str(roomy_fmnist)
    if "dataset" in keys:
        overrides["dataset"] = "fashion-mnist"
    unset = [k for k in PAPER_SCALE_KEYS if k in loaded.options]
    sets = [f"{k}={json.dumps(v)}" for k, v in overrides.items()]
    sets += [f"sweep.{k}={json.dumps(v[:1] if k == 'bits' else v[:2])}" for k, v in loaded.sweep.items()]
    assert main(["run", str(config), "--quiet", *sum((["--set", s] for s in sets), []),
                 *sum((["--unset", k] for k in unset), [])]) == 0
    out = tmp_path / "out"
    if loaded.command == "experiment":      # a preset: one folder of sub-runs and a table in the paper's layout
        preset = json.loads((out / "preset.json").read_text())
        assert (out / "table.md").is_file() and (out / "config.resolved.toml").is_file()
        assert preset["preset"] == loaded.options["preset"] and preset["num_queries"] == 4
        assert preset["settings"]["steps"] == 2 and preset["rows"]
        return
    runs = [out / name for name, _ in sweep_points(load_config(config, sets, unset))]
    for run in runs:
        results = json.loads((run / "results.json").read_text())
        assert results["settings"]["steps"] == 2 and results["num_queries"] == 4
        resolved = load_config(run / "config.resolved.toml")
        assert resolved.command == loaded.command and resolved.options["out"] == str(run)
        again = parse_config_run(resolved)
        assert again.steps == 2 and str(again.data) == str(roomy_fmnist)
    if loaded.sweep:
        assert (out / "report.html").is_file() and (out / "config.resolved.toml").is_file()
        assert load_config(out / "config.resolved.toml").sweep == load_config(config, sets, unset).sweep
        for axis in loaded.sweep:
            if axis != "bits":
                assert (out / "figures" / f"tmap_vs_{axis.replace('_', '').replace('-', '')}.png").is_file()
