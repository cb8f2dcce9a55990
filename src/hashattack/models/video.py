"""Video hashing model of the paper (appendix B): a frozen frame encoder, an LSTM, a hash layer.

Input: pixels (B, T, C, H, W) in [0, 1] and optionally `lengths` (B,), the number of real
frames of each video (the rest is padding; default: all T frames are real). The model owns its
normalisation (buffers shaped (1, 1, C, 1, 1), so attacks broadcast ε over frames).

    frames --frozen frame encoder--> (B, T, F) --LSTM--> hidden state after the last real frame
    (B, hidden) = `features(x)` --hash layer--> f(x) (B, K), pre-tanh; code = sign(f(x)).

Padding frames never reach the frame encoder and the LSTM output is read at each video's last
real frame; the LSTM is causal, so a padded video gets exactly the output of the unpadded one,
and the gradient with respect to padding frames is zero (an attack leaves them untouched).

Frame encoders:
- "alexnet": torchvision AlexNet, ImageNet weights from a local file (`weights=`), the
  classifier up to fc7 + ReLU, 4096-d per frame, as in the paper;
- "frame-cnn": the backbone of a small strided CNN (`FrameCNN`) pretrained as a classifier on
  Fashion-MNIST images (`training.frame_pretraining`), for the embedded video default.
Both are frozen: no gradients to their weights and always in eval mode.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hashattack.errors import InputError
from hashattack.models.base import HashingModel
from hashattack.models.registry import register_model
from hashattack.models.small_cnn import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from hashattack.models.weights import find_weights, load_into, load_state_dict, read_metadata
from hashattack.retrieval.codes import binarize

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ALEXNET_WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"   # torchvision's file name in its cache folder


class AlexNetFrames(nn.Module):
    """AlexNet up to fc7 (+ ReLU): normalised frames (N, 3, H, W) -> (N, 4096)."""

    feature_dim = 4096

    def __init__(self):
        super().__init__()
        from torchvision.models import alexnet

        net = alexnet(weights=None)
        self.features, self.avgpool = net.features, net.avgpool
        self.classifier = nn.Sequential(*list(net.classifier.children())[:6])

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(frames)), 1))


def alexnet_weights_path(weights: str | Path) -> Path:
    """The ImageNet weights file: `weights` itself, or torchvision's file inside a cache folder."""
    return find_weights(weights, ALEXNET_WEIGHTS_FILE, "ImageNet weights for AlexNet")


def load_alexnet_weights(encoder: AlexNetFrames, weights: str | Path) -> None:
    """Load torchvision's ImageNet AlexNet state_dict (weights_only) into the fc7 frame encoder."""
    path = alexnet_weights_path(weights)
    state = {k: v for k, v in load_state_dict(path).items() if not k.startswith("classifier.6.")}
    load_into(encoder, state, path, "torchvision's AlexNet")


class FrameCNN(HashingModel):
    """A small strided CNN for grey frames: conv 4x4/2 (16) - conv 4x4/2 (32) - fc(feature_dim) - ReLU,
    then a last layer Linear(feature_dim, bits).

    Pretrained as a classifier (bits = number of classes, `training.frame_pretraining`), its backbone is
    the frozen frame encoder of "lstm-frame-cnn". Strided convolutions instead of the small
    CNN's pooling make it about 5x cheaper per frame, which matters when an attack runs it on
    every frame of every query at every step. Input: pixels (B, channels, size, size), size % 4 == 0.
    """

    architecture = "frame-cnn"

    def __init__(self, bits: int, channels: int = 1, size: int = 32, feature_dim: int = 128,
                 mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD):
        super().__init__(bits, feature_dim, mean, std)
        if size % 4:
            raise InputError(f"frame size must be a multiple of 4, got {size}")
        self.channels, self.size, self.feature_dim = channels, size, feature_dim
        self.backbone = nn.Sequential(
            nn.Conv2d(channels, 16, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(32 * (size // 4) ** 2, feature_dim), nn.ReLU(inplace=True),
        )

    def embed(self, normalized: torch.Tensor) -> torch.Tensor:
        return self.backbone(normalized)

    def config(self) -> dict:
        return {**super().config(), "channels": self.channels, "size": self.size, "feature_dim": self.feature_dim,
                "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


class FrameCNNBackbone(nn.Module):
    """The frame CNN's backbone as a frame encoder: normalised frames (N, C, size, size) -> (N, feature_dim)."""

    def __init__(self, channels: int = 1, size: int = 32, feature_dim: int = 128):
        super().__init__()
        self.feature_dim = feature_dim
        self.backbone = FrameCNN(bits=1, channels=channels, size=size, feature_dim=feature_dim).backbone

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.backbone(frames)


def load_frame_cnn(encoder: FrameCNNBackbone, checkpoint: str | Path) -> None:
    """Copy the backbone of a pretrained frame-cnn checkpoint (hash-checked) into the frame encoder."""
    meta = read_metadata(checkpoint)
    if meta["model"].get("architecture") != "frame-cnn":
        raise InputError(f"checkpoint {checkpoint} holds a {meta['model'].get('architecture')!r} model, not 'frame-cnn'")
    state = load_state_dict(checkpoint, meta["sha256"])
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    load_into(encoder.backbone, backbone, checkpoint, "the frame encoder")


class VideoHashingModel(HashingModel):
    """Frozen frame encoder + LSTM + hash layer (see the module docstring)."""

    architecture = "video"

    def __init__(self, bits: int, frame_encoder: nn.Module, hidden: int, mean, std):
        super().__init__(bits, hidden, mean, std)
        self.mean = self.mean.view(1, 1, -1, 1, 1)
        self.std = self.std.view(1, 1, -1, 1, 1)
        self.hidden = hidden
        self.frame_encoder = frame_encoder.requires_grad_(False).eval()
        self.lstm = nn.LSTM(frame_encoder.feature_dim, hidden, batch_first=True)

    def train(self, mode: bool = True):
        super().train(mode)
        self.frame_encoder.eval()   # frozen, as AlexNet in the paper: no dropout, fixed statistics
        return self

    def check_lengths(self, pixels: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if pixels.dim() != 5:
            raise InputError(f"video models take pixels (B, T, C, H, W), got shape {tuple(pixels.shape)}")
        batch, frames = pixels.shape[:2]
        if lengths is None:
            return torch.full((batch,), frames, dtype=torch.long, device=pixels.device)
        lengths = torch.as_tensor(lengths, device=pixels.device).long()
        if lengths.shape != (batch,) or (batch and (lengths.min() < 1 or lengths.max() > frames)):
            raise InputError(f"lengths must be {batch} frame counts in 1..{frames}, got {lengths.tolist()}")
        return lengths

    def frame_features(self, normalized: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) normalised frames -> (B, T, F) frame features (zeros for padding frames)."""
        batch, frames = normalized.shape[:2]
        real = torch.arange(frames, device=normalized.device)[None, :] < lengths[:, None]
        if bool(real.all()):
            return self.frame_encoder(normalized.flatten(0, 1)).view(batch, frames, -1)
        out = normalized.new_zeros(batch, frames, self.frame_encoder.feature_dim)
        out[real] = self.frame_encoder(normalized[real])
        return out

    def sequence_features(self, frame_features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Frame features (B, T, F) -> the LSTM's hidden state after each video's last real frame, (B, hidden)."""
        if lengths is None:
            lengths = torch.full((len(frame_features),), frame_features.shape[1], dtype=torch.long)
        lengths = lengths.to(frame_features.device).long()
        # cuDNN's RNN backward refuses eval mode, and an attack differentiates the frozen (eval) LSTM:
        # then run it without cuDNN (no effect on CPUs; encoding without gradients keeps cuDNN)
        with torch.backends.cudnn.flags(enabled=self.training or not torch.is_grad_enabled()):
            outputs, _ = self.lstm(frame_features)
        return outputs[torch.arange(len(lengths), device=frame_features.device), lengths - 1]

    def features(self, pixels: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The LSTM's hidden state after each video's last real frame, (B, hidden)."""
        lengths = self.check_lengths(pixels, lengths)
        return self.sequence_features(self.frame_features(self.normalize(pixels), lengths), lengths)

    @torch.no_grad()
    def frozen_front(self, pixels: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The frozen stage, frame features (B, T, F): training computes them once (`training.loop.train_model`)."""
        lengths = self.check_lengths(pixels, lengths)
        return self.frame_features(self.normalize(pixels), lengths)

    def head(self, frame_features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The trained stage: frame features (B, T, F) -> f(x) (B, bits)."""
        return self.hash_layer(self.sequence_features(frame_features, lengths))

    def forward(self, pixels: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-tanh hash output f(x), (B, bits), from videos (B, T, C, H, W) in [0, 1]."""
        return self.hash_layer(self.features(pixels, lengths))

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return binarize(self(pixels, lengths)).float()


class AlexNetLSTM(VideoHashingModel):
    """The paper's video model: AlexNet fc7 (4096-d, frozen ImageNet weights) + LSTM + hash layer."""

    architecture = "lstm-alexnet"

    def __init__(self, bits: int, hidden: int = 512, weights: str | Path | None = None):
        encoder = AlexNetFrames()
        if weights is not None:
            load_alexnet_weights(encoder, weights)
        super().__init__(bits, encoder, hidden, IMAGENET_MEAN, IMAGENET_STD)

    def config(self) -> dict:
        return {**super().config(), "hidden": self.hidden}


class FrameCNNLSTM(VideoHashingModel):
    """The embedded video model: frame-CNN encoder pretrained on Fashion-MNIST + LSTM + hash layer."""

    architecture = "lstm-frame-cnn"

    def __init__(self, bits: int, hidden: int = 128, channels: int = 1, size: int = 32, feature_dim: int = 128,
                 frame_weights: str | Path | None = None, mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD):
        encoder = FrameCNNBackbone(channels, size, feature_dim)
        if frame_weights is not None:
            load_frame_cnn(encoder, frame_weights)
        super().__init__(bits, encoder, hidden, mean, std)
        self.channels, self.size, self.feature_dim = channels, size, feature_dim

    def config(self) -> dict:
        return {**super().config(), "hidden": self.hidden, "channels": self.channels, "size": self.size,
                "feature_dim": self.feature_dim, "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


@register_model("lstm-alexnet", imagenet_weights=alexnet_weights_path)
def lstm_alexnet(bits: int, **kwargs) -> AlexNetLSTM:
    """`weights`: torchvision's ImageNet AlexNet file (or its cache folder); None = random init (tests, reloading a checkpoint)."""
    return AlexNetLSTM(bits, **kwargs)


@register_model("frame-cnn")
def frame_cnn(bits: int, **kwargs) -> FrameCNN:
    return FrameCNN(bits, **kwargs)


@register_model("lstm-frame-cnn", frame_encoder=True)
def lstm_frame_cnn(bits: int, **kwargs) -> FrameCNNLSTM:
    """`frame_weights`: a frame-cnn checkpoint whose backbone becomes the frame encoder; None = random init."""
    return FrameCNNLSTM(bits, **kwargs)
