"""Training hashing models: losses, the one training loop, adversarial training, checkpoints and the
trained-model cache."""

from hashattack.training.adversarial import AdversarialTraining, adversarial_train
from hashattack.training.cache import default_cache_dir, train_new_model, trained_model
from hashattack.training.checkpoints import load_checkpoint, save_checkpoint
from hashattack.training.loop import PAPER_TRAIN_CONFIG, TrainConfig, train_model

__all__ = ["AdversarialTraining", "adversarial_train", "default_cache_dir", "train_new_model", "trained_model", "load_checkpoint", "save_checkpoint",
           "PAPER_TRAIN_CONFIG", "TrainConfig", "train_model"]
