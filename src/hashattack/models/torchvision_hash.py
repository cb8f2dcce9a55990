"""Paper-scale hashing models on torchvision backbones: VGG-11 (the paper's), VGG-16, ResNet-50 and AlexNet
(the victim of DPSH and most later hashing work).

VGG and AlexNet: `features`, the average pool, and the classifier up to (without) its last layer give the
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
from hashattack.models.weights import find_weights, load_into, load_state_dict, torchvision_file_name

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
    "alexnet": Backbone("alexnet", "AlexNet_Weights", _vgg_trunk, 4096),   # DPSH's and DeepHash-pytorch's victim
}


def weights_file_name(backbone: str) -> str:
    """torchvision's file name of the backbone's ImageNet weights (e.g. vgg11-8a719046.pth)."""
    return torchvision_file_name(BACKBONES[backbone].weights_enum)


def resolve_weights(backbone: str, weights: str | Path) -> Path:
    """A weights file, or torchvision's file inside a cache folder; a clear error when it is absent."""
    return find_weights(weights, weights_file_name(backbone), f"ImageNet weights for {backbone}")


def build_backbone(backbone: str, weights: str | Path | None = None) -> tuple[nn.Module, Path | None]:
    """The torchvision network, randomly initialised or holding the weights of `weights`.

    With weights the network is built on the meta device and the file's tensors are assigned to it,
    which skips a random initialisation of ~130 M parameters that would be overwritten.
    """
    import torchvision.models as tvm

    builder = getattr(tvm, BACKBONES[backbone].builder)
    if weights is None:
        return builder(weights=None), None
    path = resolve_weights(backbone, weights)
    state = load_state_dict(path)
    with torch.device("meta"):
        net = builder(weights=None)
    load_into(net, state, path, f"torchvision's {backbone}", assign=True)
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
    @register_model(name, imagenet_weights=lambda weights: resolve_weights(name, weights),
                    weights_file=lambda: weights_file_name(name), random_init=True)
    def factory(bits: int, weights: str | Path | None = None) -> TorchvisionHash:
        return TorchvisionHash(bits, name, weights)


for _name in BACKBONES:
    _register(_name)
