"""The engine's promises, through the command line at tiny size: `hashattack experiment NAME` and
`hashattack run configs/NAME.toml` are one run, every preset runs, `--checkpoint` attacks a trained
model, every attacking command takes the speed options, and a sweep's runs share one manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine_helpers import (model_cache, read_json, relative_files, spec_of_command, tiny_image_options,
                            tiny_video_options, video_fmnist)
from run_helpers import without_training
from hashattack.cli.config import load_config, parse_config_run
from hashattack.cli.main import build_parser, main
from hashattack.cli.options import spec_from_args
from hashattack.data.fashion_mnist import load_fashion_mnist
from hashattack.models.acceleration import enable_tf32
from hashattack.protocol.presets import preset_names, preset_path

CONFIGS = Path(__file__).parent.parent / "configs"
RUN_FIGURES = ("adversarial_examples.png", "retrieval.png", "precision_recall.png", "precision_at_k.png")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return model_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return video_fmnist(tmp_path_factory)


@pytest.fixture(scope="module")
def bits_runs(fake_fmnist, cache, tmp_path_factory) -> tuple[Path, Path]:
    """`hashattack experiment bits` and `hashattack run configs/bits.toml` with the same tiny settings."""
    base = tmp_path_factory.mktemp("bits-pair")
    experiment, config = base / "experiment", base / "run"
    assert main(["experiment", "bits", *tiny_image_options(fake_fmnist, cache, experiment), "--bits", "16", "32"]) == 0
    sets = {"data": str(fake_fmnist), "train-per-class": 5, "epochs": 1, "queries": 4, "steps": 2, "bits": [16, 32],
            "cache-dir": str(cache), "out": str(config)}
    assert main(["run", str(CONFIGS / "bits.toml"), "--quiet",
                 *sum((["--set", f"{key}={value!r}".replace("'", '"')] for key, value in sets.items()), [])]) == 0
    return experiment, config


def test_experiment_and_run_of_the_same_config_give_the_same_folder(bits_runs):
    experiment, config = bits_runs
    assert relative_files(experiment) == relative_files(config)
    for name in ("table.csv", "table.md", "manifest.json", "bits-16/results.json", "bits-32/results.json"):
        assert (experiment / name).read_bytes() == (config / name).read_bytes(), name
    for run in ("bits-16", "bits-32"):
        for figure in RUN_FIGURES:
            assert (experiment / run / "figures" / figure).is_file(), (run, figure)
        assert (experiment / run / "results.json").is_file() and (experiment / run / "report.html").is_file()
    for name in ("sweep.json", "manifest.json", "report.html", "figures/tmap_vs_bits.png", "config.resolved.toml"):
        assert (experiment / name).is_file(), name
    assert read_json(experiment / "sweep.json")["runs"] == ["bits-16", "bits-32"]
    assert load_config(config / "config.resolved.toml").options["out"] == str(config)


def test_every_preset_is_its_config_file():
    names = preset_names()
    assert names == ["bits", "bits-multilabel", "eps", "feature", "nt", "open-set", "video-bits", "video-eps"]
    for name in names:
        assert preset_path(name).read_bytes() == (CONFIGS / f"{name}.toml").read_bytes(), name


PRESET_OPTIONS = {           # each preset's own axis cut to two or three values
    "bits-multilabel": ["--bits", "16", "32", "--mosaics", "200"],
    "eps": ["--eps", "0.05", "0.1", "--bits", "16"],
    "feature": ["--bits", "16", "32"],
    "nt": ["--n-t", "1", "3", "5", "--bits", "16"],
    "open-set": ["--bits", "16"],
    "video-bits": ["--bits", "16", "32"],
    "video-eps": ["--eps", "0.05", "0.1", "--bits", "16"],
}
SUB_RUNS = {"bits": ["bits-16", "bits-32"], "bits-multilabel": ["bits-16", "bits-32"], "feature": ["bits-16", "bits-32"], "eps": ["eps-0.05", "eps-0.1"],
            "nt": ["n_t-1", "n_t-3", "n_t-5"], "open-set": [], "video-bits": ["bits-16", "bits-32"],
            "video-eps": ["eps-0.05", "eps-0.1"]}


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_runs_at_tiny_size(preset, fake_fmnist, clips, cache, bits_runs, tmp_path, capsys):
    video = preset.startswith("video")
    data = clips if video else fake_fmnist
    if preset == "bits":
        out = bits_runs[0]
    else:
        out = tmp_path / preset
        options = tiny_video_options(data, cache, out) if video else \
            tiny_image_options(data, cache, out, per_class=preset != "bits-multilabel")   # mosaics: --mosaics
        assert main(["experiment", preset, *options, *PRESET_OPTIONS[preset]]) == 0
    printed = capsys.readouterr().out
    runs = [out / name for name in SUB_RUNS[preset]] or [out]
    assert sorted(p.parent.name for p in out.glob("*/results.json")) == [p.name for p in runs if p != out]
    manifest = read_json(out / "manifest.json")
    assert len(manifest["query_ids"]) == 4
    table = (out / "table.md").read_text()
    assert (out / "table.csv").is_file() and (out / "report.html").is_file()
    records = [read_json(run / "results.json") for run in runs]
    for run, record in zip(runs, records):
        assert (run / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()
        assert record["num_queries"] == 4 and record["settings"]["steps"] == 2
        for entry in record["methods"].values():
            assert 0.0 <= entry["t_map"] <= 1.0
    resolved = load_config(out / "config.resolved.toml")       # what ran, and `hashattack run` reads it back
    assert resolved.command == ("video" if video else "demo") and resolved.options["out"] == str(out)
    again = parse_config_run(build_parser(), resolved)
    assert again.steps == [2] and again.root == data and again.queries == 4
    if len(runs) > 1:
        sweep = read_json(out / "sweep.json")
        assert sweep["runs"] == SUB_RUNS[preset] and sweep["num_queries"] == 4
        axis = next(iter(sweep["axes"]))
        assert (out / "figures" / f"tmap_vs_{axis.replace('_', '')}.png").is_file()
    record = records[0]
    if preset in ("bits", "bits-multilabel", "video-bits"):
        assert "| DHTA " in table and "| Original | MAP" in table
        other = "zero" if preset == "bits-multilabel" else "drop"   # a paper stand-in's main column is "drop"
        assert f"| 16 bits | 16 bits ({other}) | 32 bits | 32 bits ({other}) |" in table   # both conventions
        assert set(record["methods"]) == {"Original", "Noise", "P2P", "DHTA"}
    if preset == "feature":
        assert "| Feature " in table and set(record["methods"]) == {"Feature", "DHTA"}   # Table 3 in one layout
        assert record["methods"]["Feature"]["attack"]["steps"] == 2
    if preset in ("eps", "video-eps"):
        assert [row["eps"] for row in sweep["rows"]] == [0.05, 0.1] and "| ε" in table
        assert record["methods"]["DHTA"]["perceptibility"]["linf_median"] <= 0.05 + 1e-6
        assert set(record["methods"]) == {"DHTA"}
    if preset == "nt":
        assert [row["n_t"] for row in sweep["rows"]] == [1, 3, 5] and "| n_t" in printed
        assert set(manifest["anchor_ids"]) == {"1", "3", "5"}
    if preset == "open-set":
        assert manifest["extra"] == {"seen_classes": [0, 1, 2, 3, 4], "unseen_classes": [5, 6, 7, 8, 9]}
        assert all(set(t) <= {5, 6, 7, 8, 9} for t in manifest["target_labels"])
        queries = load_fashion_mnist(fake_fmnist)["test_labels"][manifest["query_ids"]]
        assert set(queries.tolist()) <= {0, 1, 2, 3, 4} and "Open set" in table
    if preset == "bits-multilabel":   # multi-hot mosaics, HashNet's loss, R in NUS-WIDE's proportion (200 -> 5)
        assert record["dataset"] == "mosaic-fashion" and record["settings"]["topk"] == 5
        assert record["model"]["train"]["loss"] == "hashnet"
    if video:
        assert "moving-fashion" in table and record["architecture"] == "lstm-frame-cnn"
        assert all((run / "figures" / "frames.png").is_file() for run in runs)


@pytest.fixture(scope="module")
def checkpoints(fake_fmnist, clips, cache, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    image, video = folder / "fmnist-16.pt", folder / "clips-16.pt"
    assert main(["train", "--data", str(fake_fmnist), "--train-per-class", "5", "--epochs", "1", "--bits", "16",
                 "--out", str(image), "--quiet"]) == 0
    assert main(["train", "--dataset", "moving-fashion", "--data", str(clips), "--frames", "4", "--epochs", "1",
                 "--bits", "16", "--cache-dir", str(cache), "--out", str(video), "--quiet"]) == 0
    return image, video


@pytest.mark.parametrize("command", ["demo", "experiment", "video"])
def test_commands_attack_a_trained_checkpoint(command, checkpoints, fake_fmnist, clips, cache, tmp_path):
    image, video = checkpoints
    out = tmp_path / "run"
    images, videos = without_training(tiny_image_options(fake_fmnist, cache, out)), \
        without_training(tiny_video_options(clips, cache, out))   # a checkpoint takes no training options
    argv = {"demo": ["demo", *images, "--checkpoint", str(image)],
            "experiment": ["experiment", "bits", *images, "--checkpoint", str(image)],
            "video": ["video", *videos, "--checkpoint", str(video)]}[command]
    assert main(argv) == 0
    record = read_json(out / "results.json")      # a checkpoint has one code length: one run, no sweep
    checkpoint = video if command == "video" else image
    assert record["model"]["source"] == "checkpoint" and record["model"]["path"] == str(checkpoint)
    assert record["spec"]["model"]["checkpoint"] == str(checkpoint) and record["bits"] == 16
    assert record["model"]["sha256"] == read_json(checkpoint.with_name(checkpoint.name + ".json"))["sha256"]


@pytest.mark.parametrize("command", ["demo", "experiment"])
def test_checkpoint_with_several_bits_is_a_one_line_error(command, checkpoints, fake_fmnist, cache, tmp_path, capsys):
    argv = [command, *(["bits"] if command == "experiment" else []),
            *without_training(tiny_image_options(fake_fmnist, cache, tmp_path / "x")), "--checkpoint",
            str(checkpoints[0]), "--bits", "16", "32"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1 and "a checkpoint has one code length" in err
    assert not (tmp_path / "x").exists()


SPEED = ["--early-stop", "--precision", "bf16", "--channels-last"]


@pytest.mark.parametrize("command", ["demo", "video", "audit"])
def test_attacking_commands_parse_the_speed_options(command, tmp_path):
    data = ["--data", str(tmp_path)] if command == "audit" else []
    spec = spec_from_args(build_parser().parse_args([command, *data, *SPEED]))
    assert (spec.attack.early_stop, spec.attack.precision, spec.attack.channels_last) == (True, "bf16", True)
    assert spec.attack.compile is False
    plain = spec_from_args(build_parser().parse_args([command, *data]))
    assert (plain.attack.early_stop, plain.attack.precision, plain.attack.channels_last) == (False, "fp32", False)


@pytest.mark.parametrize("preset", ["bits", "video-eps"])
def test_experiment_passes_the_speed_options_to_its_command(preset, monkeypatch, tmp_path):
    attack = spec_of_command(monkeypatch, ["experiment", preset, *SPEED, "--out", str(tmp_path / "x")]).attack
    assert (attack.early_stop, attack.precision, attack.channels_last) == (True, "bf16", True)


def test_demo_with_early_stop_runs(fake_fmnist, cache, tmp_path):
    out = tmp_path / "run"
    assert main(["demo", *tiny_image_options(fake_fmnist, cache, out), "--bits", "16", "--early-stop",
                 "--no-figures"]) == 0
    assert read_json(out / "results.json")["settings"]["early_stop"] is True


def test_tf32_is_set_explicitly_and_recorded(fake_fmnist, cache, tmp_path):
    """--tf32 is part of what a run is: run.json's fingerprint and results.json record it, so a resumed run
    cannot mix TF32 and float32 batches; without it the engine turns TF32 off (cuDNN's default is on)."""
    out = tmp_path / "run"
    try:
        assert main(["demo", *tiny_image_options(fake_fmnist, cache, out), "--bits", "16", "--tf32", "--no-figures"]) == 0
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        enable_tf32(False)
    assert read_json(out / "run.json")["fingerprint"]["settings"]["tf32"] is True
    assert read_json(out / "results.json")["settings"]["tf32"] is True
    torch.backends.cudnn.allow_tf32 = True
    assert main(["demo", *tiny_image_options(fake_fmnist, cache, tmp_path / "plain"), "--bits", "16", "--no-figures"]) == 0
    assert not torch.backends.cudnn.allow_tf32
    assert read_json(tmp_path / "plain" / "results.json")["settings"]["tf32"] is False


def test_a_sweep_runs_every_point_on_one_manifest(fake_fmnist, cache, tmp_path):
    out = tmp_path / "sweep"
    assert main(["demo", *tiny_image_options(fake_fmnist, cache, out), "--bits", "16", "--n-t", "1", "3",
                 "--methods", "DHTA", "--no-figures"]) == 0
    top = (out / "manifest.json").read_bytes()
    for name in ("n_t-1", "n_t-3"):
        assert (out / name / "manifest.json").read_bytes() == top, name
        assert read_json(out / name / "results.json")["settings"]["n_t"] == int(name[-1])
    assert set(read_json(out / "manifest.json")["anchor_ids"]) == {"1", "3"}
    assert read_json(out / "sweep.json")["runs"] == ["n_t-1", "n_t-3"]
