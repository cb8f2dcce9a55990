"""Split builders: write the list files (train.txt, database.txt, test.txt; HashNet's multi-hot
format) of the appendix's protocols from the raw datasets, seeded.

- ImageNet-100 (`build_imagenet100_lists`): from ImageNet's `train/<wnid>/*.JPEG` and `val/<wnid>/*.JPEG`
  folders. 100 classes (given, or drawn with the seed); database = every train image of those
  classes; queries = their val images; training = 100 per class drawn from the database.
- NUS-WIDE (`build_nus_wide_lists`): from the image folder, NUS-WIDE's image list (`Imagelist.txt`,
  Windows paths such as `C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg`, made relative to the
  root after `ImageData`) and its concept-label files (`Labels_<concept>.txt`, one 0/1 per image of
  the list). The 20 most frequent concepts (ties by name) are kept as multi-hot labels, ordered
  by frequency; images with none of them are dropped, as are images missing from the folder; 5,000
  random queries, the rest the database, 10,000 random database images for training.

List paths are relative to the root. The builders return the counts and file paths they wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hashattack.data.list_files import read_text_lines, write_list_file, write_names
from hashattack.errors import InputError

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp"}


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _write_splits(out_dir: Path, root: Path, splits: dict[str, tuple[list[Path], np.ndarray]],
                  class_names: list[str]) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {"train": "train.txt", "database": "database.txt", "query": "test.txt"}
    written = {}
    for split, (paths, labels) in splits.items():
        write_list_file(out_dir / names[split], paths, labels, root)
        written[split] = {"file": str(out_dir / names[split]), "count": len(paths)}
    write_names(out_dir / "classes.txt", class_names)
    return written


def build_imagenet100_lists(root: str | Path, out_dir: str | Path | None = None, classes: list[str] | None = None,
                            num_classes: int = 100, train_per_class: int = 100, seed: int = 0,
                            train_dir: str = "train", val_dir: str = "val") -> dict:
    """Write ImageNet-100's list files into `out_dir` (default `root`); see the module docstring."""
    root = Path(root)
    train_root, val_root = root / train_dir, root / val_dir
    for folder in (train_root, val_root):
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder: expected ImageNet's {folder.name}/<class>/ image folders")
    available = sorted(p.name for p in train_root.iterdir() if p.is_dir())
    rng = np.random.default_rng(seed)
    if classes is None:
        if num_classes > len(available):
            raise InputError(f"{train_root} holds {len(available)} class folders, fewer than {num_classes}")
        classes = sorted(rng.choice(available, size=num_classes, replace=False).tolist())
    else:
        classes = list(classes)
        unknown = [c for c in classes if c not in available]
        if unknown:
            raise InputError(f"class {unknown[0]!r} has no folder in {train_root}")
    splits = {"train": ([], []), "database": ([], []), "query": ([], [])}
    for index, name in enumerate(classes):
        label = np.zeros(len(classes), dtype=np.uint8)
        label[index] = 1
        database = _images_in(train_root / name)
        queries = _images_in(val_root / name) if (val_root / name).is_dir() else []
        if len(database) < train_per_class:
            raise InputError(f"{train_root / name} holds {len(database)} images, fewer than {train_per_class} for training")
        if not queries:
            raise InputError(f"class {name} has no images in {val_root / name}")
        train = [database[i] for i in sorted(rng.choice(len(database), size=train_per_class, replace=False))]
        for split, paths in (("train", train), ("database", database), ("query", queries)):
            splits[split][0].extend(paths)
            splits[split][1].extend([label] * len(paths))
    splits = {k: (paths, np.array(labels)) for k, (paths, labels) in splits.items()}
    written = _write_splits(Path(out_dir or root), root, splits, classes)
    return {"classes": classes, **written}


def nus_wide_relative_path(line: str) -> str:
    """NUS-WIDE's image-list entry (Windows path) -> a path relative to the image root."""
    path = line.strip().replace("\\", "/")
    marker = "ImageData/"
    return path.split(marker, 1)[1] if marker in path else path.split(":", 1)[-1].lstrip("/")


def build_nus_wide_lists(root: str | Path, image_list: str | Path, labels_dir: str | Path,
                         out_dir: str | Path | None = None, num_concepts: int = 20, num_queries: int = 5000,
                         num_train: int = 10000, seed: int = 0) -> dict:
    """Write NUS-WIDE's list files into `out_dir` (default `root`); see the module docstring."""
    root, image_list, labels_dir = Path(root), Path(image_list), Path(labels_dir)
    if not image_list.is_file():
        raise InputError(f"NUS-WIDE image list {image_list} does not exist (ImageList/Imagelist.txt)")
    entries = [nus_wide_relative_path(line) for line in read_text_lines(image_list, "NUS-WIDE image list")
               if line.strip()]
    label_files = sorted(labels_dir.glob("Labels_*.txt")) if labels_dir.is_dir() else []
    if not label_files:
        raise InputError(f"{labels_dir} holds no concept-label files Labels_<concept>.txt")
    concepts, columns = [], []
    for path in label_files:
        values = "\n".join(read_text_lines(path, "concept-label file")).split()
        if len(values) != len(entries):
            raise InputError(f"{path}: {len(values)} labels, expected one per image of {image_list} ({len(entries)})")
        if any(v not in ("0", "1") for v in values):
            raise InputError(f"{path}: labels must be 0 or 1")
        concepts.append(path.stem[len("Labels_"):])
        columns.append(np.array(values, dtype=np.uint8))
    labels = np.stack(columns, axis=1)
    if num_concepts > len(concepts):
        raise InputError(f"{labels_dir} holds {len(concepts)} concepts, fewer than {num_concepts}")
    order = sorted(range(len(concepts)), key=lambda c: (-int(labels[:, c].sum()), concepts[c]))[:num_concepts]
    labels = labels[:, order]
    kept = [i for i in np.flatnonzero(labels.any(axis=1)) if (root / entries[i]).is_file()]
    if num_queries + num_train > len(kept):
        raise InputError(f"only {len(kept)} images carry one of the {num_concepts} concepts and exist under {root}; "
                         f"{num_queries} queries + {num_train} training images need more")
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(kept)
    queries, database = np.sort(shuffled[:num_queries]), np.sort(shuffled[num_queries:])
    train = np.sort(rng.choice(database, size=num_train, replace=False))
    splits = {name: ([Path(entries[i]) for i in ids], labels[ids])
              for name, ids in (("train", train), ("database", database), ("query", queries))}
    written = _write_splits(Path(out_dir or root), root, splits, [concepts[c] for c in order])
    return {"concepts": [concepts[c] for c in order], "dropped": len(entries) - len(kept), **written}
