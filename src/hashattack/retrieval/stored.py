"""A database that already exists: codes and labels saved as `.npy` files (DeepHash-pytorch style).

    codes, labels = load_database("database_codes.npy", "database_labels.npy")
    adversarial, result = hashattack.attack_to_label(model, images, [3], codes, labels)

Codes: (N, K) of ±1 or of {0, 1} (0 read as -1), any integer, boolean or float dtype; or (N, K/8)
uint8 packed bits with `bits=K` (`codes.pack_bits`' layout, most significant bit first).
Labels: (N,) class indices or (N, C) 0/1 label vectors (multi-hot allowed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.retrieval.codes import unpack_bits


def label_vectors(labels, num_classes: int | None = None, what: str = "labels") -> np.ndarray:
    """Class indices (n,) or 0/1 label vectors (n, C) -> uint8 label vectors (n, C)."""
    array = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    if array.ndim == 1:
        if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0):
            raise InputError(f"{what}: class indices must be non-negative integers, got {array[:5].tolist()}")
        count = num_classes if num_classes is not None else int(array.max(initial=-1)) + 1
        if array.size and array.max() >= count:
            raise InputError(f"{what}: class {int(array.max())} is beyond the {count} classes")
        vectors = np.zeros((len(array), count), dtype=np.uint8)
        vectors[np.arange(len(array)), array.astype(np.int64)] = 1
        return vectors
    if array.ndim != 2 or not np.isin(array, (0, 1)).all():
        raise InputError(f"{what}: expected class indices (n,) or 0/1 label vectors (n, C), got shape {array.shape}")
    if num_classes is not None and array.shape[1] != num_classes:
        raise InputError(f"{what}: label vectors have {array.shape[1]} classes, expected {num_classes}")
    return array.astype(np.uint8)


def _load(path: str | Path, what: str) -> np.ndarray:
    try:
        return np.load(Path(path), allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{what} file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a .npy array of {what} ({exc})") from None


def codes_from_array(array, bits: int | None = None, what: str = "codes") -> torch.Tensor:
    """±1, {0, 1} or packed (with `bits`) codes -> float32 ±1 tensor (N, K)."""
    array = np.asarray(array)
    if bits is not None:
        if array.dtype != np.uint8:
            raise InputError(f"{what}: packed codes must be uint8, got {array.dtype}")
        return torch.from_numpy(unpack_bits(array, bits).astype(np.float32))
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise InputError(f"{what}: expected a non-empty (N, K) array, got shape {array.shape}")
    values = np.unique(array)
    if np.isin(values, (-1, 1)).all():
        return torch.from_numpy(array.astype(np.float32))
    if np.isin(values, (0, 1)).all():
        return torch.from_numpy(np.where(array > 0, 1, -1).astype(np.float32))
    raise InputError(f"{what}: codes must hold -1/+1 or 0/1 values, got {values[:4].tolist()}")


def load_database(codes_path: str | Path, labels_path: str | Path, bits: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes float32 ±1 (N, K), labels uint8 (N, C)) of `.npy` files; their N must agree."""
    codes = codes_from_array(_load(codes_path, "codes"), bits, str(codes_path))
    labels = label_vectors(_load(labels_path, "labels"), None, str(labels_path))
    if len(codes) != len(labels):
        raise InputError(f"{codes_path} holds {len(codes)} codes but {labels_path} {len(labels)} labels")
    return codes, torch.from_numpy(labels)


__all__ = ["load_database", "codes_from_array", "label_vectors"]
