"""Hostile configs, code loading, the trained-model cache and command-line values: each case is refused
with exit 2 and one line `hashattack: error: ...` (no traceback), and nothing is run or written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_fake_fashion_mnist
from hashattack.cli.config import load_config
from hashattack.cli.main import main
from hashattack.data.catalog import open_dataset
from hashattack.data.fashion_mnist import DEFAULT_ROOT, FILES, write_idx
from hashattack.errors import InputError
from hashattack.models.user import import_factory
from hashattack.protocol.spec import MAX_SWEEP_POINTS, RunSpec, point_name
from hashattack.protocol.trainer import trained_model
from hashattack.training.cache import cache_key
from hashattack.training.loop import TrainConfig
from run_helpers import without_training

SRC = Path(__file__).resolve().parent.parent / "src"
TINY = TrainConfig(epochs=1, batch_size=16)
NET = textwrap.dedent('''
    """A user's hashing model; `build` leaves a marker beside this file when it is called."""
    from pathlib import Path
    from torch import nn

    def build(bits=8):
        (Path(__file__).parent / "factory-ran").write_text("yes")
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, bits))

    def broken():
        raise ValueError("no such layer size")
''')


def refused(argv, capsys, *messages) -> str:
    """Run the CLI in-process: exit 2, one line on stderr naming `messages`, no traceback."""
    assert main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for message in messages:
        assert message in err, err
    return err


@pytest.fixture
def photos(tmp_path):
    """3 classes x 6 RGB images of 8x8 pixels, and the user's model file beside them."""
    rng = np.random.default_rng(0)
    for c in "abc":
        (tmp_path / "photos" / c).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 90, (8, 8, 3)).astype(np.uint8)
            pixels[..., "abc".index(c)] += 150
            Image.fromarray(pixels).save(tmp_path / "photos" / c / f"{i}.png")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "tiny_net.py").write_text(NET)
    return tmp_path / "photos"


def audit_args(photos: Path, out: Path) -> list[str]:
    return ["--data", photos, "--query-split", "3", "--queries", "2", "--steps", "1", "--n-t", "2", "--topk", "5",
            "--eps", "0.1", "--no-figures", "--quiet", "--out", out]


# --- a config cannot run code unless the command line allows it -------------------------------------

@pytest.mark.parametrize("keys, named", [
    ({"model": "os:system", "model_arg": ['command="touch {marker}"']}, "'model' ('os:system')"),
    ({"model_path": ["{tmp}"]}, "'model-path'"),
    ({"model_arg": ['command="touch {marker}"']}, "'model-arg'"),
])
def test_a_config_naming_code_runs_nothing_without_allow_code(tmp_path, capsys, keys, named):
    marker = tmp_path / "pwned"
    text = 'command = "audit"\n' + "\n".join(
        f"{k.replace('_', '-')} = " + (repr([v.format(marker=marker, tmp=tmp_path) for v in value])
                                      if isinstance(value, list) else f'"{value}"')
        for k, value in keys.items()) + "\n"
    config = tmp_path / "cfg.toml"
    config.write_text(text)
    refused(["run", config], capsys, named, "--allow-code")
    refused(["run", config, "--dry-run"], capsys, "--allow-code")
    assert not marker.exists()


def test_allow_code_on_the_command_line_is_what_unlocks_a_config_factory(tmp_path, photos, capsys):
    factory = tmp_path / "code" / "tiny_net.py"
    config = tmp_path / "cfg.toml"
    config.write_text(f'command = "audit"\nmodel = "{factory}:build"\ndata = "{photos}"\nquery-split = 3\nqueries = 2\n'
                      f'steps = 1\nn-t = 2\ntopk = 5\neps = 0.1\nno-figures = true\nquiet = true\nout = "{tmp_path / "out"}"\n')
    refused(["run", config], capsys, "'model'", f"hashattack run {config} --allow-code")
    assert not (tmp_path / "code" / "factory-ran").exists() and not (tmp_path / "out").exists()
    assert main(["run", str(config), "--allow-code"]) == 0
    assert (tmp_path / "code" / "factory-ran").exists() and (tmp_path / "out" / "results.json").is_file()


def test_the_command_line_may_name_the_factory_a_config_lacks(tmp_path):
    config = tmp_path / "cfg.toml"
    config.write_text('command = "audit"\n')
    assert load_config(config, ["model=net.py:build"]).options["model"] == "net.py:build"
    config.write_text('command = "audit"\nmodel = "net:build"\n')
    assert "model" not in load_config(config, unset=["model"]).options   # --unset drops the file's factory
    with pytest.raises(InputError, match="--allow-code"):
        load_config(config)


@pytest.mark.parametrize("outer", [
    'command = "run"\nconfig = "{inner}"\nallow-code = true\n',    # a file cannot grant itself the permission
    'command = "run"\nconfig = "{inner}"\n',                        # nor get it from an outer file
])
def test_a_config_running_a_config_cannot_unlock_code(tmp_path, capsys, outer):
    marker = tmp_path / "pwned"
    inner = tmp_path / "inner.toml"
    inner.write_text(f'command = "audit"\nmodel = "os:system"\nmodel-arg = [\'command="touch {marker}"\']\n')
    config = tmp_path / "outer.toml"
    config.write_text(outer.format(inner=inner))
    refused(["run", config], capsys, "allow-code")
    assert not marker.exists()


@pytest.mark.parametrize("files, cycle", [
    ({"a.toml": "a.toml"}, "a.toml -> a.toml"),
    ({"a.toml": "b.toml", "b.toml": "c.toml", "c.toml": "a.toml"}, "a.toml -> b.toml -> c.toml -> a.toml"),
])
def test_a_config_that_runs_itself_is_one_line_naming_the_cycle(tmp_path, monkeypatch, capsys, files, cycle):
    monkeypatch.chdir(tmp_path)
    for name, runs in files.items():
        Path(name).write_text(f'command = "run"\nconfig = "{runs}"\n')
    started = time.perf_counter()
    refused(["run", "a.toml"], capsys, f"runs itself: {cycle}")
    assert time.perf_counter() - started < 5


# --- user modules never come ahead of installed packages ----------------------------------------------

PLANTED = 'from pathlib import Path\nPath({marker!r}).write_text("planted module ran")\n'


def test_audit_never_imports_a_package_from_the_working_folder(tmp_path, photos):
    """`python -m hashattack audit --model tiny_net:build` in a folder holding matplotlib/__init__.py:
    the model is found in the working folder, matplotlib (imported for the figures) is the installed one."""
    work = tmp_path / "code"
    marker = tmp_path / "planted-ran"
    (work / "matplotlib").mkdir()
    (work / "matplotlib" / "__init__.py").write_text(PLANTED.format(marker=str(marker)))
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    args = [a for a in audit_args(photos, tmp_path / "out") if a != "--no-figures"]
    done = subprocess.run([sys.executable, "-m", "hashattack", "audit", "--model", "tiny_net:build", *map(str, args)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not marker.exists()
    assert (work / "factory-ran").exists() and (tmp_path / "out" / "figures" / "retrieval.png").is_file()


def test_user_modules_are_searched_after_the_installed_packages(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    marker = tmp_path / "planted-ran"
    (folder / "colorsys.py").write_text(PLANTED.format(marker=str(marker)))   # shadows a standard module
    (folder / "hostile_user_net.py").write_text("import colorsys\n" + NET)
    monkeypatch.chdir(folder)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    path_before = list(sys.path)
    assert callable(import_factory("hostile_user_net:build", [folder]))
    assert not marker.exists() and str(folder) not in str(sys.modules["colorsys"].__file__)
    assert sys.path == path_before                                   # nothing left on the search path
    assert callable(import_factory(f"{folder / 'hostile_user_net.py'}:build")) and sys.path == path_before


# --- user code that fails: one line naming it ------------------------------------------------------------

@pytest.mark.parametrize("model, messages", [
    ("tiny_net.py:broken", ["the model factory", "tiny_net.py:broken raised ValueError: no such layer size"]),
    ("syntax_error.py:build", ["importing", "syntax_error.py", "SyntaxError"]),
    ("tiny_net.py:missing", ["has no 'missing'"]),
])
def test_a_failing_user_module_is_one_line(tmp_path, photos, capsys, model, messages):
    (tmp_path / "code" / "syntax_error.py").write_text("def build(:\n")
    refused(["audit", "--model", tmp_path / "code" / model, *audit_args(photos, tmp_path / "out")], capsys, *messages)
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_data_parallel_state_dict_names_the_module_prefix(tmp_path, photos, capsys):
    net = import_factory(f"{tmp_path / 'code' / 'tiny_net.py'}:build")()
    weights = tmp_path / "dp.pt"
    torch.save(torch.nn.DataParallel(net).state_dict(), weights)
    refused(["audit", "--model", f"{tmp_path / 'code' / 'tiny_net.py'}:build", "--weights", weights,
             *audit_args(photos, tmp_path / "out")], capsys, 'start with "module."', "DataParallel", "strip the prefix")
    assert not (tmp_path / "out" / "results.json").exists()


# --- the trained-model cache knows the data's content -------------------------------------------------

def test_a_model_trained_on_other_data_of_the_same_shape_is_not_reused(tmp_path):
    first = open_dataset("fashion-mnist", make_fake_fashion_mnist(tmp_path / "a", seed=0), train_per_class=3)
    other = open_dataset("fashion-mnist", make_fake_fashion_mnist(tmp_path / "b", seed=1), train_per_class=3)
    assert first.train.images.shape == other.train.images.shape and first.protocol == other.protocol
    _, meta = trained_model(first, "small-cnn", 8, TINY, tmp_path / "cache", progress=False)
    _, again = trained_model(first, "small-cnn", 8, TINY, tmp_path / "cache", progress=False)
    _, fresh = trained_model(other, "small-cnn", 8, TINY, tmp_path / "cache", progress=False)
    assert again["path"] == meta["path"] and fresh["path"] != meta["path"]
    assert meta["train_data"]["objects"] == 30 and meta["train_data"]["sha256"] != fresh["train_data"]["sha256"]
    assert meta["protocol"]["database"] == "train split (120)"   # the true size, not the real dataset's


def test_a_cached_model_recorded_for_other_data_is_retrained(tmp_path):
    first = open_dataset("fashion-mnist", make_fake_fashion_mnist(tmp_path / "a", seed=0), train_per_class=3)
    other = open_dataset("fashion-mnist", make_fake_fashion_mnist(tmp_path / "b", seed=1), train_per_class=3)
    _, meta = trained_model(first, "small-cnn", 8, TINY, tmp_path / "cache", progress=False)
    stale = Path(tmp_path / "cache") / Path(meta["path"]).name.replace(
        cache_key(first, "small-cnn", 8, TINY, {}), cache_key(other, "small-cnn", 8, TINY, {}))
    for suffix in ("", ".json"):   # another data's model copied under this data's key
        Path(str(stale) + suffix).write_bytes(Path(meta["path"] + suffix).read_bytes())
    _, fresh = trained_model(other, "small-cnn", 8, TINY, tmp_path / "cache", progress=False)
    assert fresh["path"] == str(stale) and fresh["train_data"]["sha256"] != meta["train_data"]["sha256"]


@pytest.mark.skipif(not (DEFAULT_ROOT / FILES["train_images"]).is_file(), reason="needs the real Fashion-MNIST")
def test_the_real_default_model_keeps_its_cache_key():
    """Models cached before the data's fingerprint entered the key stay valid (no retraining)."""
    dataset = open_dataset("fashion-mnist", None, train_per_class=2000)
    assert cache_key(dataset, "small-cnn", 32, TrainConfig(), {}) == "5fac7c4f1c01"


def test_32x32_images_with_a_28x28_model_are_one_line(tmp_path, fake_fmnist, capsys):
    rng = np.random.default_rng(0)
    big = tmp_path / "fmnist32"
    big.mkdir()
    for split, count in (("train", 60), ("test", 20)):
        write_idx(big / FILES[f"{split}_images"], rng.integers(0, 255, (count, 32, 32)).astype(np.uint8))
        write_idx(big / FILES[f"{split}_labels"], np.repeat(np.arange(10), count // 10).astype(np.uint8))
    _, meta = trained_model(open_dataset("fashion-mnist", fake_fmnist, train_per_class=3), "small-cnn", 16, TINY,
                            tmp_path / "cache", progress=False)
    run = ["demo", "--data", big, "--queries", "2", "--steps", "1", "--n-t", "2", "--topk", "5", "--quiet",
           "--train-per-class", "3", "--epochs", "1", "--cache-dir", tmp_path / "cache", "--out", tmp_path / "out"]
    refused([*without_training(run), "--checkpoint", meta["path"]], capsys,
            "does not accept this data's inputs of shape (1, 32, 32)")
    refused([*run, "--arch", "lenet"], capsys, "a new lenet model does not accept", "(1, 32, 32)")
    assert not (tmp_path / "out" / "results.json").exists()


# --- command-line values ----------------------------------------------------------------------------------

NO_CUDA = "cuda:99" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize("option, value, message", [
    ("--device", NO_CUDA, "argument --device: device"),
    ("--device", "banana", "unknown device 'banana'"),
    ("--seed", "-1", "argument --seed: seed must be an integer from 0 to 4294967295, got -1"),
    ("--seed", str(2 ** 70), f"got {2 ** 70}"),
    ("--seed", "1.7", "argument --seed: expected an integer"),
    ("--train-seed", str(2 ** 64), "argument --train-seed"),
])
def test_bad_option_values_are_one_line(tmp_path, fake_fmnist, capsys, option, value, message):
    refused(["demo", "--data", fake_fmnist, "--queries", "2", option, value, "--out", tmp_path / "out"], capsys, message)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("line, message", [
    ("seed = 1.7", "expected an integer from 0 to 4294967295, got '1.7'"),
    ("seed = -3", "got -3"),
    ('device = "banana"', "unknown device"),
])
def test_bad_config_values_are_one_line(tmp_path, capsys, line, message):
    config = tmp_path / "cfg.toml"
    config.write_text(f'command = "demo"\n{line}\nout = "{tmp_path / "out"}"\n')
    refused(["run", config], capsys, str(config), message)
    assert not (tmp_path / "out").exists()


def test_a_seed_that_is_not_an_integer_is_refused_by_the_spec():
    for seed in (1.7, -1, 2 ** 70, True):
        with pytest.raises(InputError, match="seed must be an integer"):
            RunSpec(seed=seed)


# --- sweeps -------------------------------------------------------------------------------------------------

def test_a_million_point_sweep_is_refused_at_once_even_with_dry_run(tmp_path, capsys):
    config = tmp_path / "big.toml"
    config.write_text(f'command = "demo"\nout = "{tmp_path / "out"}"\n[sweep]\n'
                      f"eps = {[round(0.001 * i, 3) for i in range(1, 1001)]}\nn_t = {list(range(1, 1001))}\n")
    started = time.perf_counter()
    err = refused(["run", config, "--dry-run"], capsys, "1000000 points", f"at most {MAX_SWEEP_POINTS}")
    assert time.perf_counter() - started < 10 and "1000 eps x 1000 n_t" in err
    assert not (tmp_path / "out").exists()


def test_the_sweep_limit_is_exact():
    values = tuple(round(0.001 * i, 3) for i in range(1, MAX_SWEEP_POINTS + 2))
    assert len(RunSpec(axes=(("eps", values[:-1]),)).points()) == MAX_SWEEP_POINTS
    with pytest.raises(InputError, match=f"{MAX_SWEEP_POINTS + 1} points"):
        RunSpec(axes=(("eps", values),))


@pytest.mark.parametrize("values", [("../../x", 0.1), ("a/b", 0.1), (0.1, float("nan")), (16, True)])
def test_sweep_values_that_are_not_numbers_never_leave_the_run_folder(values):
    axis = "bits" if values[0] == 16 else "eps"
    with pytest.raises(InputError, match=f"axis {axis}: every value must be"):
        RunSpec(axes=((axis, values),))
    with pytest.raises(InputError, match="not a plain folder name"):
        point_name({"eps": "../x"})


def test_path_like_sweep_values_in_a_config_are_one_line(tmp_path, capsys):
    config = tmp_path / "cfg.toml"
    config.write_text(f'command = "demo"\nout = "{tmp_path / "out"}"\n[sweep]\neps = ["../../escape", "0.1"]\n')
    refused(["run", config, "--dry-run"], capsys, "argument --eps")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escape").exists()
