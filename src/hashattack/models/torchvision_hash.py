"""Paper-scale hashing models on torchvision backbones: VGG-11 (the paper's), VGG-16 and ResNet-50.

VGG: `features`, the average pool, and the classifier up to (without) its last layer give the
4096-d feature; ResNet-50: everything up to (without) `fc` gives 2048-d. The hash layer
Linear(feature_dim, K) replaces the classifier's last layer (tanh is applied by the losses and the
attacks; the code is its sign). Input: RGB pixels in [0, 1], normalised inside with ImageNet's mean/std.

ImageNet weights cannot be downloaded here: pass `weights`, either a state_dict file of the
torchvision model, or a folder holding torchvision's file (e.g. `vgg11-8a719046.pth`, directly or
under `hub/checkpoints/` or `checkpoints/`, as in torchvision's cache `~/.cache/torch`). Without
`weights` the backbone is randomly initialised (for tests and timing; and when a trained
checkpoint is loaded over it). Another backbone plugs in with one `BACKBONES` entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from hashattack.errors import InputError
from hashattack.models.base import HashingModel
from hashattack.models.registry import register_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg_trunk(net: nn.Module) -> nn.Module:
    return nn.Sequential(net.features, net.avgpool, nn.Flatten(1), *list(net.classifier.children())[:-1])


def _resnet_trunk(net: nn.Module) -> nn.Module:
    return nn.Sequential(*[m for name, m in net.named_children() if name != "fc"], nn.Flatten(1))


@dataclass(frozen=True)
class Backbone:
    """How to build a torchvision network and cut it before its last layer."""

    builder: str            # torchvision.models function name
    weights_enum: str       # torchvision weights enum holding the ImageNet file name
    trunk: Callable[[nn.Module], nn.Module]
    feature_dim: int


BACKBONES: dict[str, Backbone] = {
    "vgg11": Backbone("vgg11", "VGG11_Weights", _vgg_trunk, 4096),
    "vgg16": Backbone("vgg16", "VGG16_Weights", _vgg_trunk, 4096),
    "resnet50": Backbone("resnet50", "ResNet50_Weights", _resnet_trunk, 2048),
}


def weights_file_name(backbone: str) -> str:
    """torchvision's file name of the backbone's ImageNet weights (e.g. vgg11-8a719046.pth)."""
    import torchvision.models as tvm

    return Path(getattr(tvm, BACKBONES[backbone].weights_enum).IMAGENET1K_V1.url).name


def resolve_weights(backbone: str, weights: str | Path) -> Path:
    """A weights file, or torchvision's file inside a cache folder; a clear error when it is absent."""
    weights = Path(weights).expanduser()
    if weights.is_file():
        return weights
    name = weights_file_name(backbone)
    if weights.is_dir():
        for candidate in (weights / name, weights / "hub" / "checkpoints" / name, weights / "checkpoints" / name):
            if candidate.is_file():
                return candidate
        raise InputError(f"{weights} holds no ImageNet weights for {backbone}: expected {name} in it or in its "
                         f"hub/checkpoints/ (torchvision's cache layout); no download is possible, copy the file there")
    raise InputError(f"ImageNet weights for {backbone} not found: {weights} is neither a file nor a folder "
                     f"(give torchvision's {name} or a folder holding it)")


def read_backbone_weights(backbone: str, weights: str | Path) -> tuple[dict, Path]:
    """The ImageNet state_dict (loaded weights_only) and the file it came from."""
    path = resolve_weights(backbone, weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled objects
        raise InputError(f"{path} is not a plain state_dict of weights ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise InputError(f"{path} is not a state_dict (found {type(state).__name__})")
    return state, path


def build_backbone(backbone: str, weights: str | Path | None = None) -> tuple[nn.Module, Path | None]:
    """The torchvision network, randomly initialised or holding the weights of `weights`.

    With weights the network is built on the meta device and the file's tensors are assigned to it,
    which skips a random initialisation of ~130 M parameters that would be overwritten.
    """
    import torchvision.models as tvm

    builder = getattr(tvm, BACKBONES[backbone].builder)
    if weights is None:
        return builder(weights=None), None
    state, path = read_backbone_weights(backbone, weights)
    with torch.device("meta"):
        net = builder(weights=None)
    try:
        net.load_state_dict(state, assign=True)
    except RuntimeError as exc:
        raise InputError(f"{path} does not fit torchvision's {backbone}: {str(exc).splitlines()[0]}") from None
    return net, path


class TorchvisionHash(HashingModel):
    """A torchvision backbone cut before its last layer, then the hash layer Linear(feature_dim, K)."""

    def __init__(self, bits: int, backbone: str = "vgg11", weights: str | Path | None = None):
        if backbone not in BACKBONES:
            raise InputError(f"unknown backbone {backbone!r}: choose one of {', '.join(sorted(BACKBONES))}")
        spec = BACKBONES[backbone]
        super().__init__(bits, spec.feature_dim, IMAGENET_MEAN, IMAGENET_STD)
        net, path = build_backbone(backbone, weights)
        self.weights_path = None if path is None else str(path)
        self.architecture = backbone
        self.trunk = spec.trunk(net)

    def embed(self, normalized: torch.Tensor) -> torch.Tensor:
        return self.trunk(normalized)


def _register(name: str) -> None:
    @register_model(name)
    def factory(bits: int, weights: str | Path | None = None) -> TorchvisionHash:
        return TorchvisionHash(bits, name, weights)


for _name in BACKBONES:
    _register(_name)
