"""JHMDB and UCF-101: index a video root, split it per appendix C, write and read list files.

Layout: `root/<class name>/<video>`, where each video is a folder of frame images or a video
file (JHMDB's frame folders, UCF-101's .avi files, or frames extracted from them). Classes are
the sorted sub-folder names.

Splits (seeded; per class, a random order of its videos is cut into consecutive parts):
- JHMDB (928 videos, 21 classes): 10 per class query, 10 per class train, the rest database;
- UCF-101 (13,320 videos, 101 classes): 30 per class train, 30 per class query, the remaining
  7,260 database.

List files (`train.txt`, `database.txt`, `query.txt`, plus `classes.txt`): one video per line,
`relative/path 0 1 0 ...` (its label vector, the format of the image list files of HashNet and
the official DHTA code); paths are relative to the root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hashattack.data.base import RetrievalDataset, one_hot
from hashattack.data.list_files import read_list_file, read_names, write_list_file, write_names
from hashattack.data.registry import PAPER_EPS, PAPER_EPS_SWEEP, DatasetEntry, register_dataset
from hashattack.data.video import FRAME_SUFFIXES, MAX_FRAMES, VIDEO_SUFFIXES, VideoSet
from hashattack.errors import InputError

SPLITS = ("train", "database", "query")


@dataclass(frozen=True)
class VideoProtocol:
    """A dataset's split sizes per class (the rest of each class is the database) and frame sampling."""

    name: str
    per_class: dict                 # split -> videos per class, in the order they are cut
    rule: str                       # frame sampling rule of data.video.sample_frame_indices


JHMDB = VideoProtocol("jhmdb", {"query": 10, "train": 10}, "first")
UCF101 = VideoProtocol("ucf101", {"train": 30, "query": 30}, "stride")
PROTOCOLS = {p.name: p for p in (JHMDB, UCF101)}


def _is_video(path: Path) -> bool:
    if path.is_dir():
        return True
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def scan_videos(root: str | Path, exclude: tuple[Path, ...] = ()) -> tuple[list[str], list[int], list[str]]:
    """Videos under `root/<class>/` -> (relative paths, class indices, class names), sorted.
    Folders in `exclude` (e.g. the list-file folder) are not classes."""
    root = Path(root)
    skip = {Path(p).resolve() for p in exclude}
    if not root.is_dir():
        raise InputError(f"video root {root} is not a folder (expected root/<class>/<video folder or file>)")
    class_dirs = sorted(p for p in root.iterdir()
                        if p.is_dir() and not p.name.startswith(".") and p.resolve() not in skip)
    paths, classes, names = [], [], []
    for c, folder in enumerate(class_dirs):
        videos = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and _is_video(p))
        frames_here = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
        if frames_here and not videos:
            raise InputError(f"{folder}: holds frame images directly; expected one sub-folder (or file) per video")
        names.append(folder.name)
        for video in videos:
            paths.append(video.relative_to(root).as_posix())
            classes.append(c)
    if not paths:
        raise InputError(f"{root}: no videos found (expected root/<class>/<video folder or file>)")
    return paths, classes, names


def split_indices(classes: list[int] | np.ndarray, per_class: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Per class, cut a seeded random order into `per_class[split]` videos per split, in order; the
    rest of each class goes to "database". Returns sorted index arrays per split."""
    classes = np.asarray(classes)
    rng = np.random.default_rng(seed)
    parts = {split: [] for split in (*per_class, "database")}
    for c in np.unique(classes):
        members = rng.permutation(np.flatnonzero(classes == c))
        needed = sum(per_class.values())
        if len(members) <= needed:
            raise InputError(f"class {c} has {len(members)} videos; the protocol takes {needed} per class "
                             f"({', '.join(f'{k} {v}' for k, v in per_class.items())}) and needs at least one more for the database")
        start = 0
        for split, count in per_class.items():
            parts[split].append(members[start:start + count])
            start += count
        parts["database"].append(members[start:])
    return {split: np.sort(np.concatenate(p)) for split, p in parts.items()}


def write_video_lists(out_dir: str | Path, paths: list[str], classes: list[int], class_names: list[str],
                      protocol: VideoProtocol, seed: int = 0) -> dict[str, Path]:
    """Split an index with `protocol` and write train/database/query.txt and classes.txt into `out_dir`."""
    out_dir = Path(out_dir)
    splits = split_indices(classes, protocol.per_class, seed)
    labels = one_hot(torch.as_tensor(classes), len(class_names))
    written = {split: write_list_file(out_dir / f"{split}.txt", [paths[i] for i in splits[split]], labels[splits[split]])
               for split in SPLITS}
    write_names(out_dir / "classes.txt", class_names)
    return written


def video_retrieval(protocol: str | VideoProtocol, root: str | Path, lists: str | Path | None = None,
                    size: tuple[int, int] = (224, 224), max_frames: int = MAX_FRAMES, seed: int = 0,
                    channels: int = 3) -> RetrievalDataset:
    """JHMDB or UCF-101 from `root`, split by the list files in `lists` (default `root/lists`).

    Missing list files are made from an index of the root with the protocol's seeded split and
    written there first. Frames are resized to `size` (H, W) and decoded when a batch needs them.
    """
    protocol = PROTOCOLS.get(protocol, protocol) if isinstance(protocol, str) else protocol
    if not isinstance(protocol, VideoProtocol):
        raise InputError(f"unknown video dataset {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    root = Path(root)
    lists = Path(lists) if lists is not None else root / "lists"
    if not all((lists / f"{split}.txt").is_file() for split in SPLITS) or not (lists / "classes.txt").is_file():
        paths, classes, names = scan_videos(root, exclude=(lists,))
        try:
            write_video_lists(lists, paths, classes, names, protocol, seed)
        except OSError as exc:
            raise InputError(f"cannot write list files into {lists} ({exc.strerror}); choose a writable lists folder") from None
    class_names = read_names(lists / "classes.txt")
    sets = {}
    for split in SPLITS:
        paths, labels = read_list_file(lists / f"{split}.txt", root, len(class_names), check_files=False, kind="video")
        sets[split] = VideoSet(paths, labels, torch.arange(len(paths)), rule=protocol.rule,
                               max_frames=max_frames, size=tuple(size), channels=channels)
    info = {"root": str(root), "lists": str(lists), "frames": f"{protocol.rule}, at most {max_frames}",
            "size": list(size), "split_seed": seed,
            **{split: f"{len(sets[split])} videos" for split in SPLITS}}
    return RetrievalDataset(protocol.name, sets["train"], sets["database"], sets["query"], class_names, info)


def _open_videos(name: str):
    def open_videos(spec, seed: int) -> RetrievalDataset:
        if spec.root is None:
            raise InputError(f"dataset {name} needs --root: the folder of its videos (<root>/<class>/<video>)")
        return video_retrieval(name, spec.root, spec.lists, seed=seed)
    return open_videos


for _name in PROTOCOLS:   # the paper's video datasets: its ε, conventions and the LSTM over AlexNet frames
    register_dataset(DatasetEntry(
        name=_name, summary=f"{_name} (videos)", open=_open_videos(_name), video=True, options=("lists",),
        eps=PAPER_EPS, eps_space="normalized", eps_sweep=PAPER_EPS_SWEEP, zero_relevance="drop",
        architecture="lstm-alexnet"))


