"""Attack to a label in one call: the database's codes and labels in, adversarial images out.

`attack_to_label` does what a run does for one batch of queries, without a run folder: draw n_t
database objects of each target label (the official protocol, `protocol.targets`), vote their
codes into the anchor, attack with the registered method (`attacks.registry`) and encode the
result. The same queries, targets, objects and seed give what `protocol.engine.run` gives.

Example (a tiny untrained model, so the example runs in a blink; with a trained model and the
default 2000 steps most queries reach their anchor)::

    >>> import torch, hashattack
    >>> model = hashattack.create_model("small-cnn", 16)
    >>> database = torch.rand(60, 1, 28, 28)
    >>> labels = torch.arange(60) % 3                       # class indices (or 0/1 label vectors)
    >>> codes = hashattack.encode(model, database, progress=False)
    >>> queries = torch.rand(2, 1, 28, 28)
    >>> adversarial, result = hashattack.attack_to_label(model, queries, [1, 2], codes, labels, eps=0.2, steps=20)
    >>> adversarial.shape, result.codes.shape, result.object_ids.shape
    (torch.Size([2, 1, 28, 28]), torch.Size([2, 16]), torch.Size([2, 9]))
    >>> bool((adversarial - queries).abs().max() <= 0.2 + 1e-6)
    True
    >>> bool((labels[result.object_ids[0]] == 1).all())    # the anchor of query 0 is voted from class 1
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hashattack.attacks.base import DEFAULT_EPS, check_flags
from hashattack.attacks.registry import build_attack, method as registered_method
from hashattack.errors import InputError
from hashattack.models.calls import check_model, check_model_device
from hashattack.protocol.attacking import Finish, finished_batch
from hashattack.protocol.targets import anchor_objects
from hashattack.retrieval.codes import anchor_code, hamming_distance, positive_int
from hashattack.retrieval.metrics import average_precisions
from hashattack.retrieval.stored import codes_from_array, label_vectors
from hashattack.validation import check_device, check_not_empty, check_seed



@dataclass
class TargetedResult:
    """What `attack_to_label` did, per query (row i is query i).

    codes: the adversarial codes (B, K) ±1; anchors: the anchor codes steered to (B, K);
    distances: Hamming distance of each adversarial code to its anchor (B,) int64 (0: reached);
    object_ids: the database objects voted into each anchor (B, n_t) int64;
    target_labels: the target label vectors (B, C) uint8.
    """

    codes: torch.Tensor
    anchors: torch.Tensor
    distances: torch.Tensor
    object_ids: torch.Tensor
    target_labels: torch.Tensor

    @property
    def reached(self) -> torch.Tensor:
        """Queries whose code equals its anchor (B,) bool."""
        return self.distances == 0

    def t_ap(self, database_codes, database_labels, topk: int | None = 1000) -> np.ndarray:
        """Targeted AP@topk of each adversarial query against its target label (NaN: nothing relevant)."""
        labels = label_vectors(database_labels, self.target_labels.shape[1], "database_labels")
        return average_precisions(self.codes, database_codes, self.target_labels, labels, topk)


def database_ids(object_ids, count: int, n_t: int, size: int) -> torch.Tensor:
    """`object_ids` as int64 (count, n_t) indices into a database of `size`, or a one-line InputError."""
    array = np.asarray(object_ids.cpu() if isinstance(object_ids, torch.Tensor) else object_ids)
    if array.dtype.kind not in "iu" or array.size != count * n_t or array.ndim not in (1, 2) \
            or array.ndim == 2 and array.shape != (count, n_t) or array.min() < 0 or array.max() >= size:
        raise InputError(f"object_ids must hold {n_t} integer database indices (0 .. {size - 1}) per image, "
                         f"({count}, {n_t}) in all, got {array.dtype} of shape {array.shape}")
    return torch.from_numpy(array.astype(np.int64)).reshape(count, n_t)


def attack_to_label(model: torch.nn.Module, images: torch.Tensor, target_labels, database_codes, database_labels, *,
                    n_t: int = 9, eps: float = DEFAULT_EPS, eps_space: str = "pixel", steps: int = 2000,
                    method: str = "DHTA", seed: int = 0, step_size: float = 1.0, batch_size: int = 100,
                    object_ids=None, quantize: bool = False, device: str = "cpu",
                    progress: bool = False) -> tuple[torch.Tensor, TargetedResult]:
    """Steer each image's code towards its target label; returns (adversarial images, `TargetedResult`).

    Args:
        model: a hashing model, pixels in [0, 1] -> K real values (its code is their sign).
        images: (B, C, H, W) pixels in [0, 1].
        target_labels: per image a class index (B,) or a 0/1 label vector (B, C).
        database_codes: (N, K) ±1 or 0/1 codes of the searched database (`hashattack.encode(model, db)`, or
            `hashattack.load_database(codes.npy, labels.npy)`).
        database_labels: (N,) class indices or (N, C) 0/1 label vectors.
        n_t: database objects of the target label voted into the anchor (9: DHTA; 1: P2P).
        eps, eps_space: the ℓ∞ bound and its space ("pixel", or "normalized" after the model's mean/std;
            the paper's ImageNet preset is eps=0.032, eps_space="normalized"; the embedded
            Fashion-MNIST default is 0.2 pixel).
        steps, step_size: iterations and step length of the official optimiser (`attacks.dhta`).
        method: a targeted method of `attacks.registry`: "DHTA" or "P2P" (n_t = 1).
        seed: seed of the draw of the n_t objects (the protocol's draw, `targets.anchor_objects`).
        object_ids: (B, n_t) database objects to vote instead of drawing them (e.g. a manifest's).
        quantize: end on the 8-bit grid (what a PNG stores) inside the ε ball.
        batch_size: queries attacked per forward/backward; device: where the attack runs.

    Float64 images are attacked in the model's dtype; numpy arrays or lists of images are refused
    (give a tensor). The model's train / eval mode and requires_grad flags are as they were after.
    Misuse is one `InputError` line saying what would be right: an empty batch, a model that is not
    an `nn.Module` or returns anything but a float tensor (B, K), an eps that is not a number or one
    per channel, a batch_size, n_t or steps that is not a positive integer, a seed outside 0 .. 2**32-1,
    object_ids that are not (B, n_t) database indices, a quantize that is not True or False, a model
    whose weights are on another device than `device` (it is not moved for you).
    """
    entry = registered_method(method)
    if entry.target != "anchor":
        raise InputError(f"attack_to_label runs a method steered by anchor codes (DHTA or P2P), not {method!r}")
    check_model(model)
    n_t = entry.anchor_objects(positive_int(n_t, "n_t"))
    batch_size, seed, device = positive_int(batch_size, "batch_size"), check_seed(seed), check_device(str(device))
    check_flags(quantize=quantize, progress=progress)
    check_model_device(model, device)
    if not isinstance(images, torch.Tensor) or images.dim() < 2:
        got = f"shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputError(f"images must be a float tensor (B, C, H, W) of pixels in [0, 1], got {got}")
    check_not_empty(len(images), "the batch of images to attack")
    db_codes = codes_from_array(database_codes.cpu() if isinstance(database_codes, torch.Tensor) else database_codes,
                                what="database_codes")
    db_labels = label_vectors(database_labels, None, "database_labels")
    if len(db_labels) != len(db_codes):
        raise InputError(f"{len(db_codes)} database codes but {len(db_labels)} database labels")
    targets = label_vectors(target_labels, db_labels.shape[1], "target_labels")
    if len(targets) != len(images):
        raise InputError(f"{len(images)} images but {len(targets)} target labels")
    if object_ids is None:
        object_ids = anchor_objects(db_labels, targets, n_t, seed)
    ids = database_ids(object_ids, len(images), n_t, len(db_codes))
    anchors = anchor_code(db_codes[ids])
    attack = build_attack(method, model, eps=eps, eps_space=eps_space, steps=steps, n_t=n_t, step_size=step_size,
                          seed=seed)
    attack.progress = progress
    finish = Finish(quantize=quantize)
    done = [finished_batch(method, attack, model, images[start:start + batch_size],
                           anchors[start:start + batch_size], list(range(start, min(start + batch_size, len(images)))),
                           start, device, finish=finish) for start in range(0, len(images), batch_size)]
    adversarial, codes = (torch.cat(parts) for parts in zip(*done))
    distances = hamming_distance(codes, anchors).diagonal().round().to(torch.int64)
    return adversarial, TargetedResult(codes, anchors, distances, ids, torch.from_numpy(targets))


__all__ = ["attack_to_label", "TargetedResult", "DEFAULT_EPS"]
