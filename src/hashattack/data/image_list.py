"""Image datasets described by list files under a root folder (ImageNet-100, NUS-WIDE, ...).

One object per line, `relative/path.JPEG LABELS`, paths relative to the root folder (or absolute).
Two label forms are read, as HashNet's and the official DHTA code's `data_list.py` does:

- multi-hot (HashNet's lists): `path 0 1 0 …`, one 0/1 value per class (one-hot for ImageNet-100);
- class index: `path 7`, one integer class (the number of classes is given or the largest + 1).

Transforms of the official code, with sizes as arguments (defaults 256 and 224):

- test (database and queries): resize to 256x256, then a fixed 224x224 crop whose top-left corner is
  at 16 on both axes: HashNet's `PlaceCrop` computes (256 - 224 - 1) / 2, which is 15 under
  Python 2's integer division and 15.5 under the Python 3 of the official DHTA code, and Pillow's
  `crop` rounds 15.5 (and 239.5) half to even, to 16 (and 240); `crop_offset` overrides it;
- train: resize to 256x256, RandomResizedCrop(224) and a random horizontal flip (HashNet's
  `image_train`).

Pixels come out in [0, 1]; the ImageNet mean/std normalisation belongs to the model. Images are
read lazily, batch by batch (a paper-scale database does not fit in memory as pixels).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from hashattack.data.base import LabeledSet, RetrievalDataset
from hashattack.data.image_io import open_image
from hashattack.data.list_files import read_list_file
from hashattack.data.registry import PAPER_EPS, PAPER_EPS_SWEEP, DatasetEntry, register_dataset
from hashattack.errors import InputError

RESIZE_SIZE = 256
CROP_SIZE = 224
LIST_NAMES = {"train": "train.txt", "database": "database.txt", "query": "test.txt"}
DATASETS = {
    # name -> number of classes and the R of MAP@R used for it in the paper / HashNet
    "imagenet100": {"num_classes": 100, "topk": 1000},
    "nus-wide": {"num_classes": 20, "topk": 5000},
}


def center_offset(resize_size: int = RESIZE_SIZE, crop_size: int = CROP_SIZE) -> int:
    """Top-left corner of the official test crop: (resize - crop - 1) / 2 rounded half to even, as Pillow
    rounds the float box of HashNet's `PlaceCrop` under Python 3 (16 for 256 / 224; Python 2 gave 15)."""
    return round((resize_size - crop_size - 1) / 2)


def load_image(path: Path) -> Image.Image:
    """One listed image as RGB (`data.image_io.open_image`: size checked before decoding)."""
    return open_image(path, "RGB")


def eval_transform(image: Image.Image, resize_size: int = RESIZE_SIZE, crop_size: int = CROP_SIZE,
                   crop_offset: int | None = None) -> torch.Tensor:
    """Resize to (resize, resize), fixed crop at `crop_offset` (default `center_offset`) -> (3, crop, crop) in [0, 1]."""
    offset = center_offset(resize_size, crop_size) if crop_offset is None else crop_offset
    image = image.resize((resize_size, resize_size), Image.BILINEAR)
    image = image.crop((offset, offset, offset + crop_size, offset + crop_size))
    return to_tensor(image)


def train_transform(image: Image.Image, resize_size: int = RESIZE_SIZE, crop_size: int = CROP_SIZE) -> torch.Tensor:
    """Resize to (resize, resize), RandomResizedCrop(crop) (torchvision's) and a random horizontal flip,
    drawn from torch's RNG -> (3, crop, crop)."""
    from torchvision import transforms

    image = transforms.RandomResizedCrop(crop_size)(image.resize((resize_size, resize_size), Image.BILINEAR))
    if torch.rand(1).item() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(image)


def to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


@dataclass
class ImageListSet(LabeledSet):
    """A `LabeledSet` whose images are files read on demand (`images` is None).

    `augment` selects the train transform (random) instead of the fixed test transform.
    """

    paths: tuple[Path, ...] = ()
    augment: bool = False
    resize_size: int = RESIZE_SIZE
    crop_size: int = CROP_SIZE
    crop_offset: int | None = None
    workers: int = min(8, os.cpu_count() or 1)

    def pixels(self, index: torch.Tensor | slice) -> torch.Tensor:
        """Float pixels (n, 3, crop, crop) in [0, 1] of the selected objects, transformed."""
        chosen = np.arange(len(self.paths))[index if isinstance(index, slice) else np.asarray(index).reshape(-1)]
        paths = [self.paths[i] for i in chosen]
        if not paths:
            return torch.zeros(0, 3, self.crop_size, self.crop_size)
        if self.augment:  # drawn in order from torch's RNG, so a seeded training run repeats
            return torch.stack([train_transform(load_image(p), self.resize_size, self.crop_size) for p in paths])
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            images = list(pool.map(lambda p: eval_transform(load_image(p), self.resize_size, self.crop_size,
                                                            self.crop_offset), paths))
        return torch.stack(images)

    def subset(self, index: torch.Tensor) -> "ImageListSet":
        chosen = np.asarray(index).reshape(-1)
        return ImageListSet(None, self.labels[index], self.ids[index], tuple(self.paths[i] for i in chosen),
                            self.augment, self.resize_size, self.crop_size, self.crop_offset, self.workers)


def image_list_set(list_file: str | Path, root: str | Path | None = None, num_classes: int | None = None,
                   augment: bool = False, resize_size: int = RESIZE_SIZE, crop_size: int = CROP_SIZE,
                   crop_offset: int | None = None) -> ImageListSet:
    paths, labels = read_list_file(list_file, root, num_classes, class_index=True)
    return ImageListSet(None, labels, torch.arange(len(paths)), tuple(paths), augment, resize_size, crop_size,
                        crop_offset)


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def list_retrieval(name: str, root: str | Path, train_list: str | Path | None = None,
                   database_list: str | Path | None = None, query_list: str | Path | None = None,
                   resize_size: int = RESIZE_SIZE, crop_size: int = CROP_SIZE,
                   num_classes: int | None = None) -> RetrievalDataset:
    """A retrieval dataset from three list files (default: train.txt, database.txt, test.txt in `root`).

    List paths are relative to `root`; relative list-file names are looked up in `root` too.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dataset root {root} is not a folder")
    num_classes = num_classes or DATASETS.get(name, {}).get("num_classes")
    files = {}
    for split, given in (("train", train_list), ("database", database_list), ("query", query_list)):
        path = Path(given) if given is not None else Path(LIST_NAMES[split])
        files[split] = path if path.is_absolute() or path.is_file() else root / path
    sets = {split: image_list_set(path, root, num_classes, augment=(split == "train"), resize_size=resize_size,
                                  crop_size=crop_size) for split, path in files.items()}
    widths = {split: s.labels.shape[1] for split, s in sets.items()}
    if len(set(widths.values())) != 1:
        raise InputError(f"list files disagree on the number of classes: {widths}")
    protocol = {split: f"{path} ({len(sets[split])} images, sha256 {_digest(path)})" for split, path in files.items()}
    protocol["transform"] = (f"test: resize {resize_size}x{resize_size}, crop {crop_size} at offset "
                             f"{center_offset(resize_size, crop_size)}; train: resize {resize_size}, RandomResizedCrop {crop_size} + flip")
    return RetrievalDataset(name, sets["train"], sets["database"], sets["query"], [], protocol)


def _open_listed(name: str) -> Callable:
    def open_listed(spec, seed: int) -> RetrievalDataset:
        if spec.root is None:
            raise InputError(f"dataset {name} needs --root: the folder its list files' image paths are relative to")
        return list_retrieval(name, spec.root, spec.train_list, spec.database_list, spec.query_list)
    return open_listed


for _name, _facts in DATASETS.items():   # the paper's image datasets: its ε, Table 2 sweep, conventions and VGG-11
    register_dataset(DatasetEntry(
        name=_name, summary=f"{_name} (list files)", open=_open_listed(_name),
        options=("train_list", "database_list", "query_list"), eps=PAPER_EPS, eps_space="normalized",
        topk=_facts["topk"], eps_sweep=PAPER_EPS_SWEEP, zero_relevance="drop", architecture="vgg11"))
