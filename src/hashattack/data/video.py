"""Videos as frame folders or video files, the paper's frame sampling, and labelled video sets.

A video on disk is either a folder of frame images (sorted by name, numbers in names compared
as numbers: frame2 < frame10) or a video file decoded with PyAV. Frame sampling (appendix B),
at most `max_frames` = 40 frames:

- "first" (JHMDB): all frames of a video shorter than 40, else its first 40;
- "stride" (UCF-101): every 3rd frame (frames 0, 3, 6, ...), the first 40 of them.

A `VideoSet` offers the interface of `LabeledSet` (`pixels(index)`, `labels`, `ids`, `len`,
`subset`) for videos: `pixels` gives (B, T, C, H, W) floats in [0, 1] padded with zero frames
to the set's T, and `model_inputs(index)` gives {"lengths": real frames per video}, which
training, encoding and the attacks pass to the model (`hashattack.models.inputs`). Videos on
disk are decoded when asked for (and kept in memory up to `cache_size` videos).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from hashattack.data.image_io import open_image
from hashattack.errors import InputError
from hashattack.validation import MAX_FRAME_PIXELS

MAX_FRAMES = 40
UCF101_STRIDE = 3
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv", ".flv")


def sample_frame_indices(num_frames: int, rule: str = "first", max_frames: int = MAX_FRAMES,
                         stride: int = UCF101_STRIDE) -> list[int]:
    """Indices of the frames kept from a video of `num_frames` frames (see the module docstring)."""
    if num_frames < 0 or max_frames <= 0 or stride <= 0:
        raise InputError(f"bad sampling request: {num_frames} frames, max {max_frames}, stride {stride}")
    if rule == "first":
        return list(range(min(num_frames, max_frames)))
    if rule == "stride":
        return list(range(0, num_frames, stride))[:max_frames]
    raise InputError(f"unknown frame sampling rule {rule!r}: choose 'first' (JHMDB) or 'stride' (UCF-101)")


def last_needed_frame(rule: str, max_frames: int = MAX_FRAMES, stride: int = UCF101_STRIDE) -> int:
    """The highest frame index any video can contribute under `rule` (decoding stops there)."""
    return max_frames - 1 if rule == "first" else (max_frames - 1) * stride


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a folder, in natural name order; an empty folder is an error."""
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
                   key=lambda p: _natural_key(p.name))
    if not files:
        raise InputError(f"{folder}: frame folder holds no frame images ({', '.join(FRAME_SUFFIXES[:3])}, ...)")
    return files


def _to_array(image, size: tuple[int, int] | None, channels: int) -> np.ndarray:
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def read_frame_folder(folder: Path, rule: str = "first", max_frames: int = MAX_FRAMES,
                      size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """Sampled frames of a frame folder as uint8 (t, C, H, W)."""
    files = frame_files(folder)
    frames = []
    for index in sample_frame_indices(len(files), rule, max_frames):
        frames.append(_to_array(open_image(files[index], "L" if channels == 1 else "RGB", MAX_FRAME_PIXELS),
                                size, channels))
    return _stack(frames, folder)


def read_video_file(path: Path, rule: str = "first", max_frames: int = MAX_FRAMES,
                    size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """Sampled frames of a video file (decoded with PyAV) as uint8 (t, C, H, W)."""
    try:
        import av
    except ImportError:
        raise InputError(f"{path}: reading video files needs PyAV (`pip install av`)") from None
    last = last_needed_frame(rule, max_frames)
    wanted = set(sample_frame_indices(last + 1, rule, max_frames))   # those of a shorter video are a prefix
    decoded, seen = [], 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream in this file")
            stream = container.streams.video[0]
            _check_frame_size(path, stream.codec_context.width or 0, stream.codec_context.height or 0)
            for frame in container.decode(video=0):
                _check_frame_size(path, frame.width, frame.height)
                if seen in wanted:
                    decoded.append(frame.to_image())
                seen += 1
                if seen > last:
                    break
    except InputError:
        raise
    except Exception as exc:  # PyAV raises its own error types (InvalidDataError, ...) for broken files
        raise InputError(f"{path}: unreadable video file ({type(exc).__name__}: {exc})") from None
    if not decoded:
        raise InputError(f"{path}: the video file holds no frames")
    return _stack([_to_array(image, size, channels) for image in decoded], path)


def _check_frame_size(path: Path, width: int, height: int) -> None:
    """Refuse frames of more than MAX_FRAME_PIXELS pixels before they are converted to images."""
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(f"{path}: frames of {width}x{height} pixels, more than the limit of {MAX_FRAME_PIXELS:,} "
                         "pixels per frame; scale the video down first")


def _stack(frames: list[np.ndarray], source: Path) -> np.ndarray:
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise InputError(f"{source}: frames differ in size {sorted(shapes)}; give a frame size to resize them")
    return np.stack(frames)


def read_video(path: str | Path, rule: str = "first", max_frames: int = MAX_FRAMES,
               size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """Sampled frames of a frame folder or a video file as uint8 (t, C, H, W)."""
    path = Path(path)
    if path.is_dir():
        return read_frame_folder(path, rule, max_frames, size, channels)
    if path.is_file():
        return read_video_file(path, rule, max_frames, size, channels)
    raise InputError(f"video {path} does not exist")


def pad_videos(videos: Sequence[np.ndarray | torch.Tensor], frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack uint8 videos (t_i, C, H, W) into (n, T, C, H, W) with zero frames after each; returns (videos, lengths)."""
    lengths = torch.tensor([len(v) for v in videos], dtype=torch.long)
    frames = int(lengths.max()) if frames is None else frames
    if len(videos) and (lengths.min() < 1 or lengths.max() > frames):
        raise InputError(f"videos of {lengths.min()}..{lengths.max()} frames do not fit {frames} frames")
    first = torch.as_tensor(videos[0]) if len(videos) else torch.zeros(1, 1, 1, 1, dtype=torch.uint8)
    out = torch.zeros(len(videos), frames, *first.shape[1:], dtype=torch.uint8)
    for i, video in enumerate(videos):
        out[i, :len(video)] = torch.as_tensor(video)
    return out, lengths


@dataclass
class VideoSet:
    """Labelled videos, in memory or on disk (see the module docstring).

    videos:  uint8 tensor (n, T, C, H, W) with `lengths`, or a list of n paths decoded on demand;
    labels:  uint8 (n, num_classes) one- or multi-hot;
    ids:     int64 (n,), the video's index in its split (for manifests);
    lengths: int64 (n,) real frames per video (in-memory sets; default T for all);
    frames:  T, the padded length (default: the in-memory T, or `max_frames` for files);
    rule, max_frames, size, channels: how files are sampled and decoded.
    """

    videos: torch.Tensor | list[Path]
    labels: torch.Tensor
    ids: torch.Tensor
    lengths: torch.Tensor | None = None
    rule: str = "first"
    max_frames: int = MAX_FRAMES
    size: tuple[int, int] | None = None
    channels: int = 3
    cache_size: int = 256

    def __post_init__(self):
        if isinstance(self.videos, torch.Tensor):
            if self.videos.dim() != 5 or self.videos.dtype != torch.uint8:
                raise InputError(f"in-memory videos must be uint8 (n, T, C, H, W), got {self.videos.dtype} {tuple(self.videos.shape)}")
            if self.lengths is None:
                self.lengths = torch.full((len(self.videos),), self.videos.shape[1], dtype=torch.long)
        else:
            self.videos = [Path(p) for p in self.videos]
            if self.size is None:
                raise InputError("videos read from disk need a frame size (H, W) so they stack into batches")
        if len(self.videos) != len(self.labels) or len(self.ids) != len(self.labels):
            raise InputError(f"{len(self.videos)} videos, {len(self.labels)} labels and {len(self.ids)} ids differ in number")
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._lengths: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def in_memory(self) -> bool:
        return isinstance(self.videos, torch.Tensor)

    @property
    def frames(self) -> int:
        return self.videos.shape[1] if self.in_memory else self.max_frames

    @property
    def images(self) -> torch.Tensor:
        """The videos (n, T, C, H, W), as `LabeledSet.images`; for videos on disk a view of one zero
        (no memory) that only tells the shape."""
        if self.in_memory:
            return self.videos
        return torch.zeros((), dtype=torch.uint8).expand(len(self), self.frames, self.channels, *self.size)

    def _positions(self, index) -> list[int]:
        return torch.arange(len(self))[index].reshape(-1).tolist()

    def _decode(self, position: int) -> torch.Tensor:
        if position in self._cache:
            self._cache.move_to_end(position)
            return self._cache[position]
        video = torch.from_numpy(read_video(self.videos[position], self.rule, self.max_frames, self.size, self.channels))
        self._lengths[position] = len(video)
        if self.cache_size > 0:
            self._cache[position] = video
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return video

    def uint8(self, index) -> torch.Tensor:
        """Stored frames of the selected videos, uint8 (B, T, C, H, W), zero frames after each video's end."""
        if self.in_memory:
            return self.videos[index]
        return pad_videos([self._decode(p) for p in self._positions(index)], self.frames)[0]

    def pixels(self, index) -> torch.Tensor:
        """Float pixels in [0, 1], (B, T, C, H, W)."""
        return self.uint8(index).float().div_(255.0)

    def frame_counts(self, index) -> torch.Tensor:
        """Real frames of the selected videos (B,)."""
        if self.in_memory:
            return self.lengths[index].reshape(-1)
        positions = self._positions(index)
        for p in positions:
            if p not in self._lengths:
                self._decode(p)
        return torch.tensor([self._lengths[p] for p in positions], dtype=torch.long)

    def model_inputs(self, index) -> dict[str, torch.Tensor]:
        """Extra model inputs of the selected videos: their frame counts."""
        return {"lengths": self.frame_counts(index)}

    def subset(self, index: torch.Tensor) -> "VideoSet":
        positions = self._positions(index)
        videos = self.videos[positions] if self.in_memory else [self.videos[p] for p in positions]
        lengths = self.lengths[positions] if self.in_memory else None
        return VideoSet(videos, self.labels[positions], self.ids[positions], lengths, self.rule, self.max_frames,
                        self.size, self.channels, self.cache_size)
