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
from hashattack.validation import MAX_ARRAY_BYTES, MAX_BITS, MAX_CLASSES, MAX_LABEL_CELLS, check_count


def label_vectors(labels, num_classes: int | None = None, what: str = "labels") -> np.ndarray:
    """Class indices (n,) or 0/1 label vectors (n, C) -> uint8 label vectors (n, C); every object needs a
    label (an all-zero row is refused), and at most MAX_CLASSES classes."""
    array = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    if num_classes is not None:
        check_count(num_classes, f"{what}: the number of classes", MAX_CLASSES, low=1)
    if array.ndim == 1:
        if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0):
            raise InputError(f"{what}: class indices must be non-negative integers, got {array[:5].tolist()}")
        count = num_classes if num_classes is not None else int(array.max(initial=-1)) + 1
        if array.size and array.max() >= count:
            raise InputError(f"{what}: class {int(array.max())} is beyond the {count} classes")
        if count > MAX_CLASSES or len(array) * count > MAX_LABEL_CELLS:
            raise InputError(f"{what}: class {int(array.max())} makes {count:,} classes for {len(array):,} objects, "
                             f"more than the limit of {MAX_CLASSES:,} classes or {MAX_LABEL_CELLS:,} labels")
        vectors = np.zeros((len(array), count), dtype=np.uint8)
        vectors[np.arange(len(array)), array.astype(np.int64)] = 1
        return vectors
    if array.ndim != 2 or not np.isin(array, (0, 1)).all():
        raise InputError(f"{what}: expected class indices (n,) or 0/1 label vectors (n, C), got shape {array.shape}")
    if num_classes is not None and array.shape[1] != num_classes:
        raise InputError(f"{what}: label vectors have {array.shape[1]} classes, expected {num_classes}")
    if array.shape[1] > MAX_CLASSES:
        raise InputError(f"{what}: {array.shape[1]:,} classes, more than the limit of {MAX_CLASSES:,}")
    empty = np.flatnonzero(~array.any(axis=1))
    if len(empty):
        raise InputError(f"{what}: the label vector of row {int(empty[0])} is all zeros; every object needs at "
                         "least one label")
    return array.astype(np.uint8)


def _load(path: str | Path, what: str) -> np.ndarray:
    """A .npy array, its header checked (at most MAX_ARRAY_BYTES, no more than the file holds) before
    numpy allocates what it claims."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file {path} does not exist")
    if not path.is_file():
        raise InputError(f"{what} file {path} is not a regular file")
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(handle)
            needed, held = int(np.prod(shape, dtype=object)) * dtype.itemsize, path.stat().st_size - handle.tell()
            if needed > min(MAX_ARRAY_BYTES, held):
                raise InputError(f"{path}: its header gives a {dtype} array of shape {tuple(shape)} ({needed:,} bytes), "
                                 f"more than the file holds ({held:,}) or the limit of {MAX_ARRAY_BYTES:,} bytes")
            handle.seek(0)
            return np.load(handle, allow_pickle=False)
    except InputError:
        raise
    except (OSError, ValueError, EOFError, MemoryError) as exc:
        raise InputError(f"{path}: not a .npy array of {what} ({' '.join(str(exc).split())[:120]})") from None


def codes_from_array(array, bits: int | None = None, what: str = "codes") -> torch.Tensor:
    """±1, {0, 1} or packed (with `bits`) codes -> float32 ±1 tensor (N, K). Packed codes must leave the
    bits beyond K in their last byte at 0 (`codes.pack_bits`' padding)."""
    array = np.asarray(array)
    if bits is not None:
        check_count(bits, f"{what}: bits", MAX_BITS, low=1)
        if array.dtype != np.uint8:
            raise InputError(f"{what}: packed codes must be uint8, got {array.dtype}")
        if bits % 8 and array.ndim == 2 and array.shape[1] == -(-bits // 8) and array.size:
            stray = np.flatnonzero(array[:, -1] & np.uint8(0xFF >> (bits % 8)))
            if len(stray):
                raise InputError(f"{what}: packed code {int(stray[0])} sets bits beyond its {bits} bits "
                                 "(the padding of its last byte must be 0); wrong bits, or not packed codes")
        return torch.from_numpy(unpack_bits(array, bits).astype(np.float32))
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise InputError(f"{what}: expected a non-empty (N, K) array, got shape {array.shape}")
    if array.shape[1] > MAX_BITS:
        raise InputError(f"{what}: {array.shape[1]:,}-bit codes, more than the limit of {MAX_BITS:,} bits")
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
