"""Each preset end to end on tiny data (in memory, from list files, and through the CLI)."""

import json

import numpy as np
import pytest
import torch

from hashattack.cli.main import main
from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.image_list import list_retrieval
from hashattack.errors import InputError
from hashattack.protocol.engine import AttackSettings
from hashattack.protocol.presets import PRESETS, PresetConfig, open_set_split, run_preset
from hashattack.training.loop import TrainConfig
from paper_scale_helpers import image_list_dataset


def tiny_dataset(n_db=48, n_query=16, classes=4, seed=0) -> RetrievalDataset:
    rng = np.random.default_rng(seed)

    def make(n):
        labels = torch.arange(n) % classes
        images = rng.normal(0, 30, size=(n, 1, 28, 28)) + 40 * labels.numpy()[:, None, None, None]
        images = torch.from_numpy(np.clip(images, 0, 255).astype(np.uint8))
        return LabeledSet(images, one_hot(labels, classes), torch.arange(n))

    database = make(n_db)
    return RetrievalDataset("tiny", database.subset(torch.arange(24)), database, make(n_query),
                            [f"class{c}" for c in range(classes)], {"train": "first 24 of the database"})


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return PresetConfig(settings=AttackSettings(eps=0.1, steps=3, n_t=3, batch_size=4, topk=20),
                        train=TrainConfig(epochs=1, batch_size=8), bits=(8, 16), single_bits=8,
                        eps_values=(0.05, 0.1), n_t_values=(1, 3, 5), num_queries=4,
                        cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_writes_run_folder_and_table(preset, config, tmp_path):
    summary = run_preset(preset, tiny_dataset(), tmp_path, config)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["query_ids"]) == 4
    table = (tmp_path / "table.md").read_text()
    assert (tmp_path / "table.csv").is_file() and json.loads((tmp_path / "preset.json").read_text())["preset"] == preset
    results = sorted(tmp_path.glob("*/results.json"))
    expected = {"bits": ["16bits", "8bits"], "feature": ["16bits", "8bits"], "eps": ["eps0.05", "eps0.1"],
                "nt": ["nt1", "nt3", "nt5"], "open-set": ["8bits"]}[preset]
    assert [p.parent.name for p in results] == expected
    record = json.loads(results[0].read_text())
    for entry in record["methods"].values():
        assert 0.0 <= entry["t_map"] <= 1.0
    rows = summary["rows"]
    if preset == "bits":
        assert "| DHTA " in table and "| Original | MAP" in table and "8 bits" in table and set(record["methods"]) == {"Original", "Noise", "P2P", "DHTA"}
    if preset == "feature":
        assert "Feature-based Attack" in table and set(record["methods"]) == {"Feature", "DHTA"}
        assert record["methods"]["Feature"]["attack"]["steps"] == 3
    if preset == "eps":
        assert [r["eps"] for r in rows] == [0.05, 0.1] and "| ε" in table
        assert record["methods"]["DHTA"]["perceptibility"]["linf_median"] <= 0.05 + 1e-6
    if preset == "nt":
        assert [r["n_t"] for r in rows] == [1, 3, 5] and set(manifest["anchor_ids"]) == {"1", "3", "5"}
    if preset == "open-set":
        assert summary["seen_classes"] == [0, 1] and summary["unseen_classes"] == [2, 3]
        assert all(set(t) <= {2, 3} for t in manifest["target_labels"])
        queries = tiny_dataset().query.labels.argmax(1)[manifest["query_ids"]]
        assert set(queries.tolist()) <= {0, 1}


def test_open_set_split_trains_on_seen_classes_only():
    split = open_set_split(tiny_dataset(), [1, 3])
    assert set(split.dataset.train.labels.argmax(1).tolist()) == {1, 3}
    assert split.unseen == [0, 2] and split.is_unseen(np.array([1, 0, 0, 0])) and not split.is_unseen(np.array([0, 1, 0, 0]))
    with pytest.raises(InputError, match="proper, non-empty subset"):
        open_set_split(tiny_dataset(), [0, 1, 2, 3])


def test_preset_on_list_files_with_rgb_model(config, tmp_path):
    root = image_list_dataset(tmp_path / "data", classes=3, per_class=5, queries_per_class=2)
    dataset = list_retrieval("tiny-list", root, resize_size=36, crop_size=32)
    rgb = PresetConfig(**{**config.__dict__, "model_kwargs": {"channels": 3, "size": 32}, "bits": (8,)})
    summary = run_preset("bits", dataset, tmp_path / "run", rgb)
    assert summary["num_queries"] == 4 and "8 bits" in summary["table"]


def test_experiment_and_train_commands(fake_fmnist, tmp_path, capsys):
    common = ["--root", str(fake_fmnist), "--train-per-class", "10", "--epochs", "1", "--cache-dir", str(tmp_path / "c"),
              "--quiet"]
    code = main(["experiment", "nt", "--n-t-values", "1", "2", "--bits", "8", "--steps", "2", "--queries", "3",
                 "--out", str(tmp_path / "nt"), *common])
    assert code == 0 and "| n_t" in capsys.readouterr().out
    code = main(["experiment", "bits", "--manifest", str(tmp_path / "nt" / "manifest.json"), "--n-t", "2",
                 "--bits", "8", "--steps", "2", "--out", str(tmp_path / "bits"), *common])
    assert code == 0
    assert json.loads((tmp_path / "bits" / "manifest.json").read_text())["query_ids"] == \
        json.loads((tmp_path / "nt" / "manifest.json").read_text())["query_ids"]
    assert main(["experiment", "eps", "--bits", "8", "16", *common]) == 2
    assert "one --bits value" in capsys.readouterr().err
    assert main(["train", "--bits", "8", "--loss", "hashnet", "--out", str(tmp_path / "m.pt"), *common[:-3], "--quiet"]) == 0
    meta = json.loads((tmp_path / "m.pt.json").read_text())
    assert meta["train"]["loss"] == "hashnet" and meta["train"]["lr"] == 0.05 and meta["model"]["bits"] == 8
    assert main(["train", "--dataset", "imagenet100", "--random-init", "--out", str(tmp_path / "x.pt")]) == 2
    assert "needs --root" in capsys.readouterr().err


def test_preset_resumes_its_sub_runs_and_refuses_other_settings(config, tmp_path):
    run_preset("eps", tiny_dataset(), tmp_path, config)
    first = (tmp_path / "eps0.1" / "results.json").read_bytes()
    (tmp_path / "eps0.1" / "results.json").unlink()
    run_preset("eps", tiny_dataset(), tmp_path, config)
    timing = json.loads((tmp_path / "eps0.1" / "timing.json").read_text())
    assert timing["batches_attacked"] == 0 and timing["batches_reused"] == 1
    assert (tmp_path / "eps0.1" / "results.json").read_bytes() == first
    longer = PresetConfig(**{**config.__dict__, "settings": AttackSettings(eps=0.1, steps=4, n_t=3, batch_size=4, topk=20)})
    with pytest.raises(InputError, match="holds a run with other settings"):
        run_preset("eps", tiny_dataset(), tmp_path, longer)
    run_preset("eps", tiny_dataset(), tmp_path, PresetConfig(**{**longer.__dict__, "force": True}))


def test_paper_scale_commands_need_imagenet_weights(tmp_path, monkeypatch, capsys):
    root = image_list_dataset(tmp_path / "data", classes=2, per_class=2, queries_per_class=1)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    assert main(["train", "--dataset", "imagenet100", "--root", str(root), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "vgg11 needs ImageNet weights" in err and "vgg11-8a719046.pth" in err and "--random-init" in err
    assert main(["experiment", "bits", "--dataset", "nus-wide", "--root", str(root), "--weights", str(tmp_path)]) == 2
    assert "holds no ImageNet weights for vgg11" in capsys.readouterr().err
