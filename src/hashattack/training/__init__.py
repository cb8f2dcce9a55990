"""Training hashing models: losses, the one training loop, checkpoints and the trained-model cache."""

from hashattack.training.cache import default_cache_dir, train_new_model, trained_model
from hashattack.training.checkpoints import load_checkpoint, save_checkpoint
from hashattack.training.loop import PAPER_TRAIN_CONFIG, TrainConfig, train_model

__all__ = ["default_cache_dir", "train_new_model", "trained_model", "load_checkpoint", "save_checkpoint",
           "PAPER_TRAIN_CONFIG", "TrainConfig", "train_model"]
