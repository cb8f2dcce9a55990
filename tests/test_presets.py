"""Presets beyond the embedded default: open-set splits, list files with an RGB model, manifests shared
between presets, resuming a preset's sub-runs, the train command, and the paper-scale errors.
(Every preset end to end on the embedded data: test_engine.py.)"""

import json

import numpy as np
import pytest
import torch

from engine_helpers import model_cache, read_json, tiny_image_options
from hashattack.cli.main import main
from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.errors import InputError
from hashattack.protocol.open_set import open_set_split
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
def cache(tmp_path_factory):
    return model_cache(tmp_path_factory)


def test_open_set_split_trains_on_seen_classes_only():
    split = open_set_split(tiny_dataset(), [1, 3])
    assert set(split.dataset.train.labels.argmax(1).tolist()) == {1, 3}
    assert split.unseen == [0, 2] and split.is_unseen(np.array([1, 0, 0, 0])) and not split.is_unseen(np.array([0, 1, 0, 0]))
    with pytest.raises(InputError, match="proper, non-empty subset"):
        open_set_split(tiny_dataset(), [0, 1, 2, 3])


def test_preset_on_list_files_with_rgb_model(cache, tmp_path, capsys):
    """A list-file folder of RGB images: the small CNN trained here takes their channels and size."""
    root = image_list_dataset(tmp_path / "data", classes=3, per_class=5, queries_per_class=2)
    out = tmp_path / "run"
    assert main(["experiment", "bits", "--dataset", "images", "--data", str(root / "database.txt"),
                 "--query-data", str(root / "test.txt"), "--size", "32", "--bits", "8", "--n-t", "3", "--epochs", "1",
                 "--queries", "4", "--steps", "2", "--cache-dir", str(cache), "--out", str(out), "--quiet",
                 "--no-figures"]) == 0
    record = read_json(out / "results.json")
    assert record["num_queries"] == 4 and "8 bits" in capsys.readouterr().out
    assert (record["model"]["model"]["channels"], record["model"]["model"]["size"]) == (3, 32)


def test_experiment_and_train_commands(fake_fmnist, tmp_path, capsys):
    common = ["--root", str(fake_fmnist), "--train-per-class", "10", "--epochs", "1", "--cache-dir", str(tmp_path / "c"),
              "--quiet"]
    code = main(["experiment", "nt", "--n-t", "1", "2", "--bits", "8", "--steps", "2", "--queries", "3",
                 "--out", str(tmp_path / "nt"), "--no-figures", *common])
    assert code == 0 and "| n_t" in capsys.readouterr().out
    code = main(["experiment", "bits", "--manifest", str(tmp_path / "nt" / "manifest.json"), "--n-t", "2",
                 "--bits", "8", "--steps", "2", "--out", str(tmp_path / "bits"), "--no-figures", *common])
    assert code == 0
    assert read_json(tmp_path / "bits" / "manifest.json")["query_ids"] == read_json(tmp_path / "nt" / "manifest.json")["query_ids"]
    # `experiment eps --bits 8 16` was refused ("one --bits value"); it is now a two-axis sweep (bits x eps).
    assert main(["experiment", "nope", *common]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and err.count("\n") == 1
    assert main(["train", "--bits", "8", "--loss", "hashnet", "--out", str(tmp_path / "m.pt"), *common[:-3], "--quiet"]) == 0
    meta = read_json(tmp_path / "m.pt.json")
    assert meta["train"]["loss"] == "hashnet" and meta["train"]["lr"] == 0.05 and meta["model"]["bits"] == 8
    assert main(["train", "--dataset", "imagenet100", "--random-init", "--out", str(tmp_path / "x.pt")]) == 2
    assert "needs --root" in capsys.readouterr().err


def test_preset_resumes_its_sub_runs_and_refuses_other_settings(fake_fmnist, cache, tmp_path, capsys):
    argv = ["experiment", "eps", *tiny_image_options(fake_fmnist, cache, tmp_path), "--bits", "16",
            "--eps", "0.05", "0.1", "--no-figures"]
    assert main(argv) == 0
    first = (tmp_path / "eps-0.1" / "results.json").read_bytes()
    (tmp_path / "eps-0.1" / "results.json").unlink()
    assert main(argv) == 0
    timing = read_json(tmp_path / "eps-0.1" / "timing.json")
    assert timing["batches_attacked"] == 0 and timing["batches_reused"] == 1
    assert (tmp_path / "eps-0.1" / "results.json").read_bytes() == first
    capsys.readouterr()
    longer = [*argv, "--steps", "3"]
    assert main(longer) == 2
    err = capsys.readouterr().err
    assert "holds a sweep with other settings (spec.attack.steps: 2 -> 3)" in err and err.count("\n") == 1
    assert main([*longer, "--force"]) == 0
    assert read_json(tmp_path / "eps-0.1" / "results.json")["settings"]["steps"] == 3


def test_paper_scale_commands_need_imagenet_weights(tmp_path, monkeypatch, capsys):
    root = image_list_dataset(tmp_path / "data", classes=2, per_class=2, queries_per_class=1)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    assert main(["train", "--dataset", "imagenet100", "--root", str(root), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "vgg11 needs ImageNet weights" in err and "vgg11-8a719046.pth" in err and "--random-init" in err
    nus = image_list_dataset(tmp_path / "nus", classes=20, per_class=3, queries_per_class=1, size=8)  # data opens first
    assert main(["experiment", "bits", "--dataset", "nus-wide", "--root", str(nus), "--weights", str(tmp_path),
                 "--queries", "4", "--n-t", "1"]) == 2
    assert "holds no ImageNet weights for vgg11" in capsys.readouterr().err
