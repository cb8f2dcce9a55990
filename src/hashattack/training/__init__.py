"""Training hashing models: losses, the one training loop, adversarial training's settings, checkpoints and
the trained-model cache (a model is trained through it by `protocol.trainer`)."""

from hashattack.training.adversarial import AdversarialTraining
from hashattack.training.cache import default_cache_dir
from hashattack.training.checkpoints import load_checkpoint, save_checkpoint
from hashattack.training.loop import PAPER_TRAIN_CONFIG, TrainConfig, train_model

__all__ = ["AdversarialTraining", "default_cache_dir", "load_checkpoint", "save_checkpoint",
           "PAPER_TRAIN_CONFIG", "TrainConfig", "train_model"]
