"""hashattack: targeted adversarial attacks on deep-hashing retrieval.

Implements DHTA (Bai et al., "Targeted Attack for Deep Hashing based Retrieval", ECCV 2020),
its baselines, the hashing models it attacks and the t-MAP / MAP evaluation. The names below
are the public face; each lives in its layer (see docs/architecture.md):

    import hashattack
    codes = hashattack.encode(model, database_images)                  # the searched database
    adversarial, result = hashattack.attack_to_label(model, images, target_labels, codes, database_labels)
    adversarial = hashattack.DHTA(model, eps=0.2, steps=2000)(images, anchor_codes)   # anchors given

Images are torch tensors of float pixels in [0, 1] (float64 is cast to the model's dtype; numpy
arrays and lists are refused); codes and labels may be tensors, numpy arrays or lists. Misuse of
any of these names (a wrong type, shape, empty batch, NaN, a model that is not an `nn.Module` or
returns anything but a float tensor (B, K)) is one `InputError` line saying what would be right.
A model comes back in the train / eval mode and with the requires_grad flags it was given.
"""

__version__ = "0.1.0"

from hashattack.attacks import DHTA, P2P, Attack, FeatureAttack, Noise, Original, Untargeted  # noqa: E402
from hashattack.data import fashion_mnist_retrieval  # noqa: E402
from hashattack.errors import InputError  # noqa: E402
from hashattack.models import create_model  # noqa: E402
from hashattack.models.encode import encode_set as encode  # noqa: E402
from hashattack.protocol import (AttackSettings, CheckpointModel, DataSpec, FactoryModel, Manifest, RunControls,  # noqa: E402
                                 RunSpec, TrainedModel, choose_targets, run)
from hashattack.protocol.adversarial_training import adversarial_train  # noqa: E402
from hashattack.protocol.api import TargetedResult, attack_to_label  # noqa: E402
from hashattack.retrieval import (HammingIndex, anchor_code, hamming_distance, hamming_rank,  # noqa: E402
                                  load_database, mean_average_precision)
from hashattack.protocol.trainer import trained_model  # noqa: E402
from hashattack.training import AdversarialTraining, TrainConfig  # noqa: E402

__all__ = ["attack_to_label", "TargetedResult", "DHTA", "P2P", "Attack", "FeatureAttack", "Noise", "Original", "Untargeted",
           "AdversarialTraining", "adversarial_train", "fashion_mnist_retrieval", "InputError",
           "create_model", "encode", "AttackSettings", "DataSpec", "Manifest", "TrainedModel", "CheckpointModel",
           "FactoryModel", "RunSpec", "RunControls",
           "choose_targets", "run", "HammingIndex", "anchor_code", "hamming_distance", "hamming_rank",
           "load_database", "mean_average_precision", "TrainConfig", "trained_model", "__version__"]
