"""Fashion-MNIST, the embedded default dataset (Debian package `dataset-fashion-mnist`).

The four standard IDX `.gz` files are read from `/usr/share/datasets/fashion-mnist/` or any
folder holding them (the layout torchvision and Keras use). Default retrieval protocol, the
small-scale analogue of the paper's ImageNet-100 protocol:

- database: the 60,000 train images;
- queries:  the 10,000 test images;
- training: `train_per_class` (default 2,000) images per class drawn from the train split with
  the seed (so the training set is a subset of the database, as in the paper).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.registry import DatasetEntry, register_dataset
from hashattack.errors import InputError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
MAX_IDX_VALUES = 2**32   # 4 GiB of uint8 values: far above any IDX data set, below what would exhaust memory
MAX_IDX_DIMS = 4   # images (n, H, W) or (n, C, H, W), labels (n,)
EMBEDDED_EPS = 0.2                                   # pixel space, 28x28 grey items (docs/calibration.md)
EMBEDDED_EPS_SWEEP = (0.02, 0.05, 0.1, 0.15, 0.2)    # pixel space, the embedded images and clips
INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist` or pass a folder holding the four IDX .gz files"


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a uint8 numpy array.

    The header is read first and at most the values it announces (and one byte more, to notice a
    longer file) are decompressed, so a gzip bomb is refused without inflating it."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            magic = handle.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 0x08:
                raise InputError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
            ndim = magic[3]
            sizes = handle.read(4 * ndim) if 1 <= ndim <= MAX_IDX_DIMS else b""
            if not 1 <= ndim <= MAX_IDX_DIMS or len(sizes) < 4 * ndim:
                raise InputError(f"{path}: IDX header gives {ndim} dimensions (expected 1 to {MAX_IDX_DIMS} whose "
                                 f"sizes follow in the file); the file is corrupt")
            shape = struct.unpack(f">{ndim}I", sizes)
            expected = math.prod(shape)   # Python ints: absurd sizes compare exactly, never overflow
            if expected > MAX_IDX_VALUES:
                raise InputError(f"{path}: IDX header says {expected} values {tuple(shape)}, more than the "
                                 f"{MAX_IDX_VALUES} this reader accepts; the file is corrupt")
            data = handle.read(expected + 1)
    except (OSError, EOFError, zlib.error) as exc:   # unreadable, truncated or corrupt gzip
        raise InputError(f"{path}: cannot read IDX file ({exc}); {INSTALL_HINT}") from None
    if len(data) != expected:
        held = f"{len(data)}" if len(data) <= expected else "more"
        raise InputError(f"{path}: IDX header says {expected} values {tuple(shape)}, file holds {held}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file (the format `read_idx` reads)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        handle.write(header + array.tobytes())


def load_fashion_mnist(root: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The four arrays as tensors: images uint8 (n, 1, 28, 28), labels int64 (n,)."""
    root = Path(root) if root is not None else DEFAULT_ROOT
    missing = [name for name in FILES.values() if not (root / name).is_file()]
    if missing:
        raise InputError(f"Fashion-MNIST not found in {root} (missing {', '.join(missing)}): {INSTALL_HINT}")
    arrays = {key: read_idx(root / name) for key, name in FILES.items()}
    out = {}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_file, label_file = root / FILES[f"{split}_images"], root / FILES[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise InputError(f"{image_file} has shape {images.shape} and {label_file} {labels.shape}; "
                             "expected images (n, H, W) and labels (n,)")
        if len(images) != len(labels):
            raise InputError(f"{image_file} holds {len(images)} images but {label_file} {len(labels)} labels; "
                             "they must match")
        if labels.size and labels.max() >= len(CLASS_NAMES):
            raise InputError(f"{root / FILES[split + '_labels']}: label {labels.max()} outside 0..9")
        out[f"{split}_images"] = torch.from_numpy(images.copy()).unsqueeze(1)
        out[f"{split}_labels"] = torch.from_numpy(labels.astype(np.int64))
    return out


def sample_per_class(classes: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of `per_class` objects of each class (fewer if a class is smaller), drawn with `seed`."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(classes):
        members = torch.nonzero(classes == c).flatten()
        order = torch.randperm(len(members), generator=generator)
        chosen.append(members[order[:per_class]])
    return torch.sort(torch.cat(chosen)).values


def fashion_mnist_retrieval(
    root: str | Path | None = None, train_per_class: int = 2000, seed: int = 0
) -> RetrievalDataset:
    """The default retrieval protocol on Fashion-MNIST (see the module docstring)."""
    if train_per_class <= 0:
        raise InputError(f"train_per_class must be positive, got {train_per_class}")
    arrays = load_fashion_mnist(root)
    n_classes = len(CLASS_NAMES)
    train_ids = torch.arange(len(arrays["train_labels"]))
    test_ids = torch.arange(len(arrays["test_labels"]))
    database = LabeledSet(arrays["train_images"], one_hot(arrays["train_labels"], n_classes), train_ids)
    query = LabeledSet(arrays["test_images"], one_hot(arrays["test_labels"], n_classes), test_ids)
    train = database.subset(sample_per_class(arrays["train_labels"], train_per_class, seed))
    protocol = {
        "database": f"train split ({len(database):,})",
        "query": f"test split ({len(query):,})",
        "train": f"{train_per_class} per class from the train split, seed {seed}",
    }
    return RetrievalDataset("fashion-mnist", train, database, query, list(CLASS_NAMES), protocol)


# The training sample is drawn with seed 0 whatever the run's seed (the embedded default protocol).
register_dataset(DatasetEntry(
    name="fashion-mnist", summary="fashion-mnist (embedded default)", options=("train_per_class",),
    open=lambda spec, seed: fashion_mnist_retrieval(spec.root, train_per_class=spec.train_per_class),
    eps=EMBEDDED_EPS, eps_sweep=EMBEDDED_EPS_SWEEP))
