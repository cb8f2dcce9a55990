"""Adversarial training: its inner attacks' goals, its settings in the checkpoint and the cache key, the CLI."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from hashattack.cli.main import main
from hashattack.data.catalog import open_dataset
from hashattack.errors import InputError
from hashattack.protocol.adversarial_training import adversarial_train
from hashattack.protocol.model_sources import CheckpointModel, TrainedModel
from hashattack.protocol.sources import with_defaults
from hashattack.protocol.spec import DataSpec
from hashattack.protocol.trainer import trained_model
from hashattack.training.adversarial import AdversarialTraining, class_centers, goal_codes
from hashattack.training.cache import cache_key, cached_path, data_fingerprint
from hashattack.training.loop import TrainConfig

TINY = TrainConfig(epochs=1, batch_size=16)


@pytest.fixture(scope="module")
def dataset(fake_fmnist):
    return open_dataset("fashion-mnist", fake_fmnist, train_per_class=3)


def test_settings_are_checked_and_resolve_the_step_factor():
    assert AdversarialTraining(steps=4).step_factor == 500.0              # the paper's path length in 4 steps
    assert AdversarialTraining(steps=4, step_size=2.0).as_dict()["step_size"] == 2.0
    assert AdversarialTraining("targeted").as_dict()["attack"] == "DHTA"
    for bad in ({"method": "pgd"}, {"eps": 0}, {"steps": 0}, {"mix": 1.5}, {"eps_space": "lab"}):
        with pytest.raises(InputError):
            AdversarialTraining(**bad)


def test_center_codes_vote_the_codes_of_the_same_class_and_targets_come_from_other_classes():
    codes = torch.tensor([[1., 1., -1.], [1., -1., -1.], [1., 1., 1.], [-1., -1., 1.], [-1., -1., -1.]])
    labels = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1]])
    rows = torch.tensor([0, 3])
    centers = class_centers(codes, labels, rows)
    assert centers.tolist() == [[1., 1., -1.], [-1., -1., 1.]]     # votes of items 0-2 and of 3-4 (tie -> +1)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(goal_codes("center", codes, labels, rows, generator), centers)
    assert goal_codes("untargeted", codes, labels, rows, generator) is None
    anchors = goal_codes("targeted", codes, labels, rows, generator)
    assert anchors.tolist() == [[-1., -1., 1.], [1., 1., -1.]]      # each row: the other class's center
    alone = goal_codes("targeted", codes[:3], labels[:3], torch.tensor([1]), generator)   # no other class: random
    assert alone.shape == (1, 3) and set(alone.flatten().tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize("method", ["untargeted", "targeted", "center"])
def test_settings_are_recorded_in_the_checkpoint_and_enter_the_cache_key(dataset, tmp_path, method):
    settings = AdversarialTraining(method, eps=0.1, steps=1, mix=0.5)
    model, meta = trained_model(dataset, "small-cnn", 8, TINY, tmp_path, progress=False, adversarial=settings)
    assert meta["adversarial"] == settings.as_dict()
    assert f"-adv-{method}-" in meta["path"]
    written = json.loads((tmp_path / (meta["path"].split("/")[-1] + ".json")).read_text())
    assert written["adversarial"] == {**settings.as_dict(), "method": method}
    plain = cache_key(dataset, "small-cnn", 8, TINY, {})
    keys = {cache_key(dataset, "small-cnn", 8, TINY, {}, AdversarialTraining(method, eps=e, steps=s))
            for e in (0.1, 0.2) for s in (1, 2)}
    assert len(keys) == 4 and plain not in keys


def test_standard_cache_keys_are_unchanged(dataset):
    source = json.dumps({"dataset": dataset.name, "protocol": dataset.protocol, "architecture": "small-cnn",
                         "bits": 8, "train": TINY.as_dict(), "model": {}, "data": data_fingerprint(dataset.train)},
                        sort_keys=True)
    assert cache_key(dataset, "small-cnn", 8, TINY, {}) == hashlib.sha256(source.encode()).hexdigest()[:12]


def test_model_spec_carries_the_settings_into_the_run_identity():
    settings = AdversarialTraining("center", steps=2)
    spec = with_defaults(TrainedModel(bits=16, adversarial=settings), DataSpec())
    identity = spec.identity({}, 16)
    assert identity["adversarial"] == settings.as_dict()
    assert "adversarial" not in with_defaults(TrainedModel(bits=16), DataSpec()).identity({}, 16)
    with pytest.raises(TypeError, match="adversarial"):   # a checkpoint has no training settings at all
        CheckpointModel(path="model.pt", adversarial=settings)


def test_train_command_writes_the_settings(fake_fmnist, tmp_path, capsys):
    out = tmp_path / "adv.pt"
    code = main(["train", "--data", str(fake_fmnist), "--train-per-class", "2", "--epochs", "1", "--bits", "8",
                 "--adversarial", "targeted", "--adv-eps", "0.05", "--adv-steps", "1", "--adv-mix", "0.25",
                 "--out", str(out), "--quiet"])
    assert code == 0 and "adversarially (targeted" in capsys.readouterr().out
    meta = json.loads(out.with_name("adv.pt.json").read_text())
    assert meta["adversarial"] == {"method": "targeted", "eps": 0.05, "eps_space": "pixel", "steps": 1,
                                   "step_size": 2000.0, "mix": 0.25, "attack": "DHTA"}
    assert meta["train"]["epochs"] == 1 and meta["train_seconds"] >= 0
    assert main(["train", "--data", str(fake_fmnist), "--adv-steps", "2", "--out", str(tmp_path / "x.pt")]) == 2
    assert "need --adversarial" in capsys.readouterr().err


def test_video_data_is_refused(dataset):
    class Clips:   # a labelled set whose objects carry frame counts, as videos do
        labels = dataset.train.labels

        def __len__(self):
            return len(self.labels)

        def model_inputs(self, index):
            return {"lengths": torch.full((len(index),), 4)}

    with pytest.raises(InputError, match="image models"):
        adversarial_train(torch.nn.Linear(2, 2), Clips(), TINY, AdversarialTraining())


def test_an_adversarially_trained_model_is_cached_under_the_same_key_and_found_again(dataset, tmp_path):
    """The cache file is named by the key of `cache_key` (unchanged), and a second call reuses it untrained."""
    settings = AdversarialTraining("untargeted", eps=0.1, steps=1)
    key = cache_key(dataset, "small-cnn", 8, TINY, {}, settings)
    expected = tmp_path / f"{dataset.name}-small-cnn-8bits-adv-untargeted-{key}.pt"
    assert cached_path(dataset, "small-cnn", 8, TINY, tmp_path, {}, settings) == expected
    first, meta = trained_model(dataset, "small-cnn", 8, TINY, tmp_path, progress=False, adversarial=settings)
    assert meta["path"] == str(expected) and expected.is_file()
    stamp = expected.stat().st_mtime_ns
    again, _ = trained_model(dataset, "small-cnn", 8, TINY, tmp_path, progress=False, adversarial=settings)
    assert expected.stat().st_mtime_ns == stamp                          # found, not trained again
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
