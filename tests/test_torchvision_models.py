"""Torchvision hashing models: shapes at every code length, the ImageNet weights file and its errors."""

import pickle

import pytest
import torch
import torchvision

from hashattack.errors import InputError
from hashattack.models import available_models, create_model
from hashattack.models.torchvision_hash import IMAGENET_STD, weights_file_name


@pytest.mark.parametrize("bits", [16, 32, 48, 64])
def test_vgg11_shapes_at_every_code_length(bits):
    with torch.device("meta"):                 # shapes only: no random init, no compute
        model = create_model("vgg11", bits)
        pixels = torch.rand(3, 3, 224, 224)
        assert model(pixels).shape == (3, bits)
        assert model.features(pixels).shape == (3, 4096)
    assert model.hash_layer.in_features == 4096 and model.hash_layer.out_features == bits
    assert model.config() == {"architecture": "vgg11", "bits": bits}


@pytest.mark.parametrize("name, feature_dim", [("vgg16", 4096), ("resnet50", 2048)])
def test_other_backbones_plug_in(name, feature_dim):
    assert name in available_models()
    with torch.device("meta"):
        model = create_model(name, 32)
        assert model.features(torch.rand(2, 3, 224, 224)).shape == (2, feature_dim)
        assert model(torch.rand(2, 3, 224, 224)).shape == (2, 32)


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """A state_dict with torchvision vgg11's keys and shapes (zeros, one known random tensor)."""
    with torch.device("meta"):
        net = torchvision.models.vgg11(weights=None)
    state = {k: torch.zeros(v.shape) for k, v in net.state_dict().items()}
    state["features.0.weight"] = torch.randn(state["features.0.weight"].shape, generator=torch.Generator().manual_seed(0))
    state["classifier.3.bias"] = torch.randn(4096, generator=torch.Generator().manual_seed(1))
    path = tmp_path_factory.mktemp("weights") / "my-vgg11.pth"
    torch.save(state, path)
    return path, state


def test_weights_file_is_loaded(fake_weights):
    path, state = fake_weights
    model = create_model("vgg11", 16, weights=path).eval()
    assert torch.equal(model.trunk[0][0].weight, state["features.0.weight"])
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert model.std.flatten().tolist() == pytest.approx(IMAGENET_STD)
    out = model(torch.rand(2, 3, 32, 32))     # the adaptive pool accepts small inputs
    assert out.shape == (2, 16)
    assert torch.allclose(model.features(torch.rand(1, 3, 32, 32)), torch.relu(state["classifier.3.bias"]))


def test_torchvision_cache_folder_layout(fake_weights, tmp_path):
    path, state = fake_weights
    name = weights_file_name("vgg11")
    assert name == "vgg11-8a719046.pth"
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / name).symlink_to(path)
    model = create_model("vgg11", 8, weights=tmp_path)
    assert model.weights_path.endswith(name)
    assert torch.equal(model.trunk[0][0].weight, state["features.0.weight"])


def test_missing_or_wrong_weights_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match=r"holds no ImageNet weights for vgg11: expected vgg11-8a719046.pth"):
        create_model("vgg11", 16, weights=tmp_path)
    with pytest.raises(InputError, match="ImageNet weights for vgg11 not found: .*absent.pth does not exist"):
        create_model("vgg11", 16, weights=tmp_path / "absent.pth")
    small = tmp_path / "small.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, small)
    with pytest.raises(InputError, match="does not fit torchvision's vgg11"):
        create_model("vgg11", 16, weights=small)
    pickled = tmp_path / "pickled.pth"
    pickled.write_bytes(pickle.dumps(torch.nn.Linear(2, 2)))
    with pytest.raises(InputError, match="not a plain state_dict"):
        create_model("vgg11", 16, weights=pickled)
    with pytest.raises(InputError, match="unknown architecture"):
        create_model("vgg19", 16)
