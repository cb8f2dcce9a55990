"""The small CNN hashing model, the pairwise loss, training and checkpoints."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from hashattack.training.checkpoints import load_checkpoint, metadata_path, save_checkpoint
from hashattack.data import fashion_mnist_retrieval
from hashattack.errors import InputError
from hashattack.training.losses import pairwise_loss
from hashattack.models import available_models, create_model
from hashattack.training.loop import TrainConfig, train_model


@pytest.mark.parametrize("bits", [16, 32, 48, 64, 12])
def test_shapes_at_every_code_length(bits):
    model = create_model("small-cnn", bits).eval()
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, bits)
    assert model.features(x).shape == (3, 256)
    codes = model.encode(x)
    assert codes.shape == (3, bits) and set(codes.unique().tolist()) <= {-1.0, 1.0}


def test_model_owns_its_normalisation():
    model = create_model("small-cnn", 8).eval()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(model.features(x), model.embed((x - 0.2860) / 0.3530))


def test_registry_errors():
    assert "small-cnn" in available_models()
    with pytest.raises(InputError, match="unknown architecture 'nope'"):
        create_model("nope", 32)
    with pytest.raises(InputError, match="bits must be a positive integer"):
        create_model("small-cnn", 0)


def test_pairwise_loss_against_a_hand_computation():
    outputs = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.2, -0.4]])
    labels = torch.tensor([[1, 0], [1, 1], [0, 1]])
    u = torch.tanh(outputs)
    s = [[1, 1, -1], [1, 1, 1], [-1, 1, 1]]
    expected = sum((float(u[i] @ u[j]) / 2 - s[i][j]) ** 2 for i in range(3) for j in range(3)) / 9
    assert pairwise_loss(outputs, labels).item() == pytest.approx(expected, rel=1e-6)


def test_training_lowers_the_loss_and_is_deterministic(fake_fmnist):
    data = fashion_mnist_retrieval(fake_fmnist, train_per_class=12).train
    config = TrainConfig(epochs=3, batch_size=32, seed=1)
    torch.manual_seed(5)
    first = create_model("small-cnn", 16)
    torch.manual_seed(5)
    second = create_model("small-cnn", 16)
    history = train_model(first, data, config, progress=False)
    assert history[-1] < history[0]
    train_model(second, data, config, progress=False)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_round_trip(tmp_path):
    model = create_model("small-cnn", 24).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, {"dataset": "x"})
    meta = json.loads(metadata_path(path).read_text())
    assert meta["model"]["architecture"] == "small-cnn" and meta["model"]["bits"] == 24 and len(meta["sha256"]) == 64
    loaded, _ = load_checkpoint(path)
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(InputError, match="has 24 bits, not 32"):
        load_checkpoint(path, bits=32)
    with pytest.raises(InputError, match="not 'vgg11'"):
        load_checkpoint(path, architecture="vgg11")


def test_tampered_or_pickled_checkpoints_are_refused(tmp_path):
    model = create_model("small-cnn", 8)
    path = save_checkpoint(tmp_path / "m.pt", model)
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(InputError, match="does not match"):
        load_checkpoint(path)

    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"w": Exploit()}))
    meta = json.loads(metadata_path(path).read_text())
    from hashattack.training.checkpoints import sha256_of
    meta["sha256"] = sha256_of(evil)
    metadata_path(evil).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="not a plain state_dict"):
        load_checkpoint(evil)
    assert not marker.exists()
