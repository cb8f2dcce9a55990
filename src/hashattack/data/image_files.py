"""A user's own images: a class-per-subfolder folder or a list file, loaded with PIL into a LabeledSet.

- Folder: `root/<class name>/<image>`; classes are the sub-folders in sorted order, labels one-hot.
- List file: one object per line, `relative/path 0 1 0 ...` (the official DHTA / HashNet format:
  a path, then one 0/1 per class, multi-hot allowed); paths are relative to `root` (default: the
  list file's folder); blank lines and lines starting with `#` are skipped.

Images are converted to grey (channels=1) or RGB (channels=3) and, when `size` is given, resized
to size×size (bilinear); without `size` they must all share one size. Everything is held in
memory as uint8, so this suits folders of up to some tens of thousands of small images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.image_io import open_image
from hashattack.data.list_files import read_list_file
from hashattack.data.registry import DatasetEntry, register_dataset
from hashattack.errors import InputError

CHANNELS = (1, 3)   # grey or RGB
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def load_image(path: Path, size: int | None = None, channels: int = 3) -> np.ndarray:
    """One image as uint8 (channels, H, W), resized to size×size when `size` is given."""
    if channels not in CHANNELS:
        raise InputError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    image = open_image(path, "L" if channels == 1 else "RGB")
    if size is not None:
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else np.transpose(array, (2, 0, 1))


def _stack(paths: list[Path], size: int | None, channels: int) -> torch.Tensor:
    images = [load_image(p, size, channels) for p in paths]
    first = images[0].shape
    for path, image in zip(paths, images):
        if image.shape != first:
            raise InputError(f"{path}: image size {image.shape[2]}x{image.shape[1]} differs from {paths[0]} "
                             f"({first[2]}x{first[1]}); give a size to resize every image")
    return torch.from_numpy(np.stack(images))


def load_image_folder(root: str | Path, size: int | None = None, channels: int = 3) -> tuple[LabeledSet, list[str]]:
    """Every image of `root/<class>/` -> (LabeledSet with one-hot labels, class names)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"{root}: no class sub-folders (expected {root}/<class name>/<images>)")
    paths, labels = [], []
    for index, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"{root / name}: no images (looked for {', '.join(IMAGE_SUFFIXES)})")
        paths += files
        labels += [index] * len(files)
    images = _stack(paths, size, channels)
    return LabeledSet(images, one_hot(torch.tensor(labels), len(classes)), torch.arange(len(paths)),
                      tuple(paths)), classes


def load_list_file(list_path: str | Path, root: str | Path | None = None, size: int | None = None,
                   channels: int = 3) -> LabeledSet:
    """The objects of a list file (`path 0 1 0 ...` per line) -> LabeledSet with multi-hot labels."""
    paths, labels = read_list_file(list_path, root)
    images = _stack(paths, size, channels)
    return LabeledSet(images, labels, torch.arange(len(paths)), tuple(paths))


def load_images(path: str | Path, root: str | Path | None = None, size: int | None = None,
                channels: int = 3) -> tuple[LabeledSet, list[str]]:
    """A folder (class per sub-folder) or a list file; class names are `class 0..C-1` for a list file."""
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path, size, channels)
    data = load_list_file(path, root, size, channels)
    return data, [f"class {i}" for i in range(data.labels.shape[1])]


def split_queries(data: LabeledSet, num_queries: int, seed: int = 0) -> tuple[LabeledSet, LabeledSet]:
    """(database, query set): `num_queries` objects drawn with `seed` become the queries, the rest the database."""
    if not 0 < num_queries < len(data):
        raise InputError(f"the query split must hold between 1 and {len(data) - 1} of the {len(data)} objects, "
                         f"got {num_queries}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    query, database = torch.sort(order[:num_queries]).values, torch.sort(order[num_queries:]).values
    return data.subset(database), data.subset(query)


def user_images(spec, seed: int) -> RetrievalDataset:
    """A user's image folder or list file `spec.root` as the database, queries from `spec.query_data` or
    `spec.query_split` objects (default 10 %) drawn with `seed` from it."""
    root = Path(spec.root)
    channels = spec.channels
    data, classes = load_images(root, None, spec.size, channels)
    if spec.query_data is not None:
        database = data
        query, query_classes = load_images(spec.query_data, None, spec.size, channels)
        if query.labels.shape[1] != database.labels.shape[1] or (root.is_dir() and query_classes != classes):
            raise InputError(f"{spec.query_data}: its classes differ from those of {root}")
        split = f"queries: {spec.query_data}"
    else:
        count = spec.query_split or max(1, len(data) // 10)
        database, query = split_queries(data, count, seed)
        split = f"{count} objects of {root} drawn with seed {seed}"
    if query.images.shape[1:] != database.images.shape[1:]:
        raise InputError(f"query images {tuple(query.images.shape[1:])} and database images "
                         f"{tuple(database.images.shape[1:])} differ in shape; give --size")
    return RetrievalDataset(f"images:{root.name}", database, database, query, classes,
                            {"database": f"{root} ({len(database)} objects)", "query": f"{split} ({len(query)} objects)",
                             "images": f"{channels} channel(s), size {spec.size or 'as stored'}"})


def _needs_root(spec) -> None:
    if spec.root is None:
        raise InputError("dataset images needs a folder or list file of images (--data)")


register_dataset(DatasetEntry(
    name="images", summary="images (your folder or list file)", open=user_images, check=_needs_root,
    options=("query_data", "query_split", "size", "channels"), attack_whole_query_set=True))


__all__ = ["user_images", "load_image", "load_image_folder", "load_list_file", "load_images", "split_queries", "IMAGE_SUFFIXES"]
