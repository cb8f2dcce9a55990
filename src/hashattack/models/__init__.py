"""Hashing models: a registry turns an architecture name into a model."""

from hashattack.models.base import HashingModel
from hashattack.models.registry import available_models, create_model, imagenet_models, model_entry, register_model
from hashattack.models import small_cnn  # noqa: F401  (registers "small-cnn")
from hashattack.models import lenet  # noqa: F401  (registers "lenet")
from hashattack.models import video  # noqa: F401  (registers "frame-cnn", "lstm-frame-cnn", "lstm-alexnet")
from hashattack.models import torchvision_hash  # noqa: F401  (registers "vgg11", "vgg16", "resnet50")

__all__ = ["HashingModel", "available_models", "create_model", "imagenet_models", "model_entry", "register_model"]
