"""Model sources as types: each obtains its model with today's identity; contradictory options are refused."""

from __future__ import annotations

import pytest
import torch

from hashattack.data.catalog import open_dataset
from hashattack.errors import InputError
from hashattack.models import imagenet_models, model_entry, registry
from hashattack.models.small_cnn import SmallCNN
from hashattack.models.torchvision_hash import BACKBONES
from hashattack.protocol.model_sources import CheckpointModel, FactoryModel, TrainedModel
from hashattack.protocol.sources import TORCHVISION, Source, obtain_model, with_defaults
from hashattack.protocol.spec import DataSpec, RunSpec
from hashattack.protocol.trainer import train_new_model
from hashattack.training.checkpoints import save_checkpoint
from hashattack.training.loop import TrainConfig
from run_helpers import cli, one_line

TINY = TrainConfig(epochs=1, batch_size=16)
FACTORY = """import torch

def make(bits=8):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, bits))
"""
# The record every run folder has held for its model (results.json, sweep.json, transfer.json).
RECORD_KEYS = ["bits", "architecture", "train", "weights", "random_init", "checkpoint", "factory", "factory_kwargs",
               "model_path", "mean", "std", "output", "cache_dir", "adversarial"]


@pytest.fixture(scope="module")
def data(fake_fmnist):
    return DataSpec(dataset="fashion-mnist", root=str(fake_fmnist), train_per_class=3)


@pytest.fixture(scope="module")
def source(data):
    return Source(open_dataset("fashion-mnist", data.root, train_per_class=3))


def test_a_trained_model_is_obtained_with_the_identity_runs_have_recorded(data, source, tmp_path):
    spec = TrainedModel(bits=8, train=TINY, cache_dir=str(tmp_path))
    model, meta = obtain_model(spec, data, source, progress=False)
    assert isinstance(model, SmallCNN) and meta["source"] == "trained" and not model.training
    resolved = with_defaults(spec, data)
    assert resolved.architecture == "small-cnn" and resolved.train == TINY
    assert resolved.identity(meta, 8) == {"source": "train", "architecture": "small-cnn", "bits": 8,
                                          "train": TINY.as_dict(), "kwargs": meta["model"]}
    assert resolved.architecture_label(meta) == "small-cnn" and resolved.label() == "small-cnn s0 8b"
    defaults = with_defaults(TrainedModel(), data)   # the dataset's default training, written in once
    assert defaults.train == TrainConfig() and with_defaults(defaults, data) == defaults
    with pytest.raises(ValueError, match="with_defaults"):
        TrainedModel().identity({}, 32)


def test_a_checkpoint_is_obtained_with_the_identity_runs_have_recorded(data, source, tmp_path):
    model, meta = train_new_model(source.dataset, "small-cnn", 8, TINY, progress=False)
    save_checkpoint(tmp_path / "m.pt", model, meta)
    spec = CheckpointModel(path=str(tmp_path / "m.pt"))
    loaded, meta = spec.obtain(data, source)
    assert meta["source"] == "checkpoint" and meta["bits"] == 8 and with_defaults(spec, data) is spec
    assert spec.identity(meta, 8) == {"source": "checkpoint", "bits": 8, "sha256": meta["sha256"],
                                      "architecture": "small-cnn"}
    assert spec.architecture_label(meta) == "small-cnn" and spec.label() == "m.pt"
    with pytest.raises(InputError):
        CheckpointModel(path=str(tmp_path / "m.pt"), bits=16).obtain(data, source)   # not its code length


def test_a_factory_model_is_obtained_with_the_identity_runs_have_recorded(data, source, tmp_path):
    (tmp_path / "fac.py").write_text(FACTORY)
    spec = FactoryModel(factory=f"{tmp_path}/fac.py:make", kwargs={"bits": 8}, mean=(0.5,), std=(0.25,))
    model, meta = spec.obtain(data, source)
    assert meta["source"] == f"user model {spec.factory}"
    assert spec.identity(meta, 8) == {"source": "factory", "bits": 8, "sha256": None, "architecture": spec.factory,
                                      "factory_kwargs": {"bits": 8}, "output": "raw", "mean": (0.5,), "std": (0.25,)}
    assert spec.architecture_label(meta) == meta["source"] and spec.label() == spec.factory
    with pytest.raises(InputError, match="not the 16 bits"):
        FactoryModel(factory=spec.factory, kwargs={"bits": 8}, bits=16).obtain(data, source)


def test_every_source_keeps_the_record_layout_of_run_folders():
    trained = TrainedModel(bits=16, train=TINY, cache_dir="c").to_json()
    assert list(trained) == RECORD_KEYS and trained["train"] == TINY.as_dict() and trained["cache_dir"] == "c"
    checkpoint = CheckpointModel(path="m.pt").to_json()
    assert list(checkpoint) == RECORD_KEYS and checkpoint["checkpoint"] == "m.pt" and checkpoint["bits"] is None
    factory = FactoryModel(factory="pkg:make", kwargs={"k": 1}, model_path=("d",), output="tanh").to_json()
    assert list(factory) == RECORD_KEYS
    assert (factory["factory"], factory["factory_kwargs"], factory["model_path"], factory["output"]) == \
        ("pkg:make", {"k": 1}, ("d",), "tanh")
    recorded = {key: value for key, value in checkpoint.items() if key != "cache_dir"}   # where a cache is: no result
    assert RunSpec(model=CheckpointModel(path="m.pt")).to_json()["model"] == recorded


@pytest.mark.parametrize("build, match", [
    (lambda: CheckpointModel(path="m.pt", epochs=3), "epochs"),                      # no such field: a TypeError
    (lambda: FactoryModel(factory="pkg:make", architecture="vgg11"), "architecture"),
    (lambda: TrainedModel(checkpoint="m.pt"), "checkpoint"),
    (lambda: TrainedModel(32), "positional"),                                         # keyword-only
])
def test_a_source_has_no_fields_of_another(build, match):
    with pytest.raises(TypeError, match=match):
        build()


@pytest.mark.parametrize("build, match", [
    (lambda: TrainedModel(bits=0), "bits must be a positive integer"),
    (lambda: TrainedModel(bits=True), "bits must be a positive integer"),
    (lambda: TrainedModel(architecture="vgg99"), "unknown architecture 'vgg99'"),
    (lambda: TrainedModel(weights="w.pth", random_init=True), "either --weights or --random-init"),
    (lambda: CheckpointModel(path=""), "a checkpoint is a file path"),
    (lambda: FactoryModel(factory="pkg:make", output="sigmoid"), "unknown model output 'sigmoid'"),
    (lambda: RunSpec(model=CheckpointModel(path="m.pt"), axes=(("bits", (8, 16)),)), "a checkpoint has one code length"),
    (lambda: RunSpec(model=FactoryModel(factory="pkg:make"), axes=(("bits", (8, 16)),)),
     "a factory model has one code length"),
])
def test_bad_sources_are_refused_in_the_library(build, match):
    with pytest.raises(InputError, match=match):
        build()


def test_a_bits_sweep_of_models_trained_here_is_accepted():
    spec = RunSpec(model=TrainedModel(bits=8), axes=(("bits", (8, 16)),))
    assert [p.spec.model.bits for p in spec.points()] == [8, 16]


@pytest.mark.parametrize("options, named", [
    (["--checkpoint", "m.pt", "--arch", "vgg11", "--epochs", "99", "--random-init"], "--arch, --epochs, --random-init"),
    (["--checkpoint", "m.pt", "--weights", "w.pth"], "--weights"),
    (["--checkpoint", "m.pt", "--adversarial", "center", "--adv-steps", "2"], "--adversarial, --adv-steps"),
    (["--checkpoint", "m.pt", "--mean", "0.5", "--std", "0.2"], "--mean, --std"),
    (["--model", "pkg:make", "--loss", "hashnet", "--train-seed", "3", "--lr", "0.1"], "--loss, --lr, --train-seed"),
    (["--model", "pkg:make", "--train-batch-size", "8", "--adv-eps", "0.1"], "--train-batch-size, --adv-eps"),
])
def test_the_cli_refuses_options_of_another_model_source(options, named, capsys, tmp_path):
    code, _, err = cli(["demo", *options, "--out", tmp_path / "run", "--quiet"], capsys)
    assert code == 2 and named in one_line(err) and "options of another model source" in err


@pytest.mark.parametrize("options, expected", [
    (["--checkpoint", "m.pt", "--model", "pkg:make"], "either --checkpoint or --model"),
    (["--mean", "0.5", "--output", "tanh"], "--mean, --output: options of a --model factory"),
])
def test_the_cli_refuses_two_sources_and_factory_options_without_a_factory(options, expected, capsys, tmp_path):
    code, _, err = cli(["demo", *options, "--out", tmp_path / "run", "--quiet"], capsys)
    assert code == 2 and expected in one_line(err)


def test_the_backbones_come_from_the_model_side():
    assert TORCHVISION == tuple(BACKBONES)
    assert set(BACKBONES) | {"lstm-alexnet"} == set(imagenet_models())
    assert all(model_entry(name).random_init and model_entry(name).weights_file() for name in BACKBONES)
    assert model_entry("lstm-alexnet").weights_file is None and model_entry("lstm-frame-cnn").frame_encoder
    assert model_entry("small-cnn").input_shape and not model_entry("lenet").input_shape


def test_a_newly_registered_model_is_trained_here_without_touching_the_protocol(data, source, tmp_path, monkeypatch):
    """A hashing model is its module and its registration: the trained-model source builds it from its entry."""
    class Wider(SmallCNN):
        architecture = "wider-cnn"

    monkeypatch.setitem(registry._REGISTRY, "wider-cnn", None)   # removed again after the test
    registry.register_model("wider-cnn", input_shape=True)(lambda bits, **kw: Wider(bits, **{"feature_dim": 64, **kw}))
    model, meta = obtain_model(TrainedModel(bits=8, architecture="wider-cnn", train=TINY, cache_dir=str(tmp_path)),
                               data, source, progress=False)
    assert isinstance(model, Wider) and "wider-cnn-8bits" in meta["path"]
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 8)
