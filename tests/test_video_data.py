"""Video data: frame sampling, frame folders and video files (written with PyAV), padding and
lengths, appendix C split counts, list files, errors, and the Moving Fashion-MNIST clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hashattack.data.moving_fashion import clip_paths, make_clips, moving_fashion_retrieval
from hashattack.data.video import VideoSet, pad_videos, read_video, sample_frame_indices
from hashattack.data.list_files import read_list_file
from hashattack.data.video_splits import (JHMDB, UCF101, VideoProtocol, scan_videos, split_indices, video_retrieval,
                                          write_video_lists)
from hashattack.errors import InputError

av = pytest.importorskip("av")


def write_frame_folder(folder: Path, count: int, size=(12, 16)) -> Path:
    """Frames frame1.png .. frame<count>.png; frame i is uniformly grey at level 5*i (so order is visible)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((*size, 3), 5 * i, dtype=np.uint8)).save(folder / f"frame{i + 1}.png")
    return folder


def write_video_file(path: Path, count: int, size=(16, 16)) -> Path:
    """An MPEG-4 file of `count` frames; frame i is uniformly grey at level 4*i + 20."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        stream.options = {"qscale": "1"}
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((*size, 3), 4 * i + 20, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --- frame sampling (appendix B) ------------------------------------------------------------------


def test_jhmdb_sampling_keeps_all_frames_of_short_videos_and_the_first_40_of_long_ones():
    assert sample_frame_indices(15, "first") == list(range(15))
    assert sample_frame_indices(40, "first") == list(range(40))
    assert sample_frame_indices(73, "first") == list(range(40))


def test_ucf101_sampling_takes_every_third_frame_up_to_40():
    assert sample_frame_indices(10, "stride") == [0, 3, 6, 9]
    assert sample_frame_indices(300, "stride") == list(range(0, 120, 3))
    assert len(sample_frame_indices(119, "stride")) == 40 and len(sample_frame_indices(117, "stride")) == 39


def test_unknown_sampling_rule_is_an_input_error():
    with pytest.raises(InputError, match="sampling rule"):
        sample_frame_indices(10, "every-other")


def test_frame_folder_is_read_in_natural_order_with_the_jhmdb_rule(tmp_path):
    folder = write_frame_folder(tmp_path / "walk" / "v1", 45)
    video = read_video(folder, "first", size=(12, 16))
    assert video.shape == (40, 3, 12, 16) and video.dtype == np.uint8
    assert video[:, 0, 0, 0].tolist() == [5 * i for i in range(40)]   # frame2 before frame10


def test_video_file_is_decoded_with_pyav_and_the_ucf101_rule(tmp_path):
    path = write_video_file(tmp_path / "v.mp4", 20)
    video = read_video(path, "stride", size=(16, 16))
    assert video.shape == (7, 3, 16, 16)
    levels = video.reshape(7, -1).mean(axis=1)
    np.testing.assert_allclose(levels, [4 * i + 20 for i in range(0, 20, 3)], atol=4)
    grey = read_video(path, "first", size=(8, 8), channels=1)
    assert grey.shape == (20, 1, 8, 8)


def test_unreadable_video_file_names_the_file(tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputError) as error:
        read_video(broken, size=(8, 8))
    assert str(broken) in str(error.value) and "\n" not in str(error.value)


def test_empty_frame_folder_names_the_folder(tmp_path):
    empty = tmp_path / "run" / "empty_video"
    empty.mkdir(parents=True)
    (empty / "notes.txt").write_text("no frames here")
    data = VideoSet([empty], torch.tensor([[1]], dtype=torch.uint8), torch.arange(1), size=(8, 8))
    with pytest.raises(InputError) as error:
        data.pixels(slice(0, 1))
    assert str(empty) in str(error.value) and "no frame images" in str(error.value) and "\n" not in str(error.value)


# --- variable lengths --------------------------------------------------------------------------------


def test_videos_of_different_lengths_are_padded_with_zero_frames_and_keep_their_lengths(tmp_path):
    paths = [write_frame_folder(tmp_path / "a", 5), write_video_file(tmp_path / "b.mp4", 3),
             write_frame_folder(tmp_path / "c", 50)]
    labels = torch.eye(3, dtype=torch.uint8)
    data = VideoSet(paths, labels, torch.arange(3), size=(8, 8), max_frames=40)
    pixels = data.pixels(torch.tensor([0, 1, 2]))
    assert pixels.shape == (3, 40, 3, 8, 8) and 0 <= pixels.min() and pixels.max() <= 1
    assert data.model_inputs(torch.tensor([0, 1, 2]))["lengths"].tolist() == [5, 3, 40]
    assert pixels[0, 5:].abs().sum() == 0 and pixels[1, 3:].abs().sum() == 0
    sub = data.subset(torch.tensor([2, 0]))
    assert sub.model_inputs(slice(None))["lengths"].tolist() == [40, 5] and sub.labels.tolist() == [[0, 0, 1], [1, 0, 0]]
    stacked, lengths = pad_videos([np.ones((2, 1, 4, 4), np.uint8), np.ones((4, 1, 4, 4), np.uint8)])
    assert stacked.shape == (2, 4, 1, 4, 4) and lengths.tolist() == [2, 4] and stacked[0, 2:].sum() == 0


# --- splits and list files (appendix C) -------------------------------------------------------------


def synthetic_index(sizes: list[int]) -> list[int]:
    return [c for c, size in enumerate(sizes) for _ in range(size)]


def test_ucf101_shaped_index_splits_into_3030_train_3030_query_and_7260_database():
    rng = np.random.default_rng(0)
    sizes = rng.integers(100, 164, size=101)
    sizes[-1] += 13320 - sizes.sum()
    classes = synthetic_index(sizes.tolist())
    assert len(classes) == 13320
    splits = split_indices(classes, UCF101.per_class, seed=3)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3030, "query": 3030, "database": 7260}
    every = np.concatenate(list(splits.values()))
    assert len(np.unique(every)) == 13320                       # disjoint and complete
    counts = np.bincount(np.asarray(classes)[splits["query"]], minlength=101)
    assert (counts == 30).all()
    again = split_indices(classes, UCF101.per_class, seed=3)
    assert all(np.array_equal(splits[k], again[k]) for k in splits)
    other = split_indices(classes, UCF101.per_class, seed=4)
    assert not np.array_equal(splits["query"], other["query"])


def test_jhmdb_shaped_index_splits_into_210_query_210_train_and_508_database():
    sizes = [44] * 20 + [928 - 44 * 20]
    splits = split_indices(synthetic_index(sizes), JHMDB.per_class, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"query": 210, "train": 210, "database": 508}


def test_a_class_too_small_for_the_protocol_is_an_input_error():
    with pytest.raises(InputError, match="class 1 has 20 videos"):
        split_indices(synthetic_index([30, 20]), JHMDB.per_class)


def make_video_root(root: Path) -> Path:
    """3 classes x 4 videos: frame folders of 3..6 frames for two classes, video files for the third."""
    for c, name in enumerate(["clap", "jump", "wave"]):
        for v in range(4):
            if name == "wave":
                write_video_file(root / name / f"v{v}.mp4", 2 + v, size=(16, 16))
            else:
                write_frame_folder(root / name / f"v{v}", 3 + v, size=(12, 12))
    return root


def test_video_root_is_indexed_split_written_as_list_files_and_read_back(tmp_path):
    root = make_video_root(tmp_path / "videos")
    paths, classes, names = scan_videos(root)
    assert names == ["clap", "jump", "wave"] and len(paths) == 12 and paths[0] == "clap/v0"
    tiny = VideoProtocol("tiny", {"query": 1, "train": 1}, "first")
    written = write_video_lists(tmp_path / "lists", paths, classes, names, tiny, seed=0)
    rel, labels = read_list_file(written["database"], root, 3, kind="video")
    assert len(rel) == 6 and labels.sum(1).tolist() == [1] * 6
    dataset = video_retrieval(tiny, root, tmp_path / "lists", size=(8, 8), max_frames=5)
    assert [len(dataset.train), len(dataset.database), len(dataset.query)] == [3, 6, 3]
    pixels = dataset.database.pixels(slice(None))
    assert pixels.shape == (6, 5, 3, 8, 8)
    assert dataset.database.model_inputs(slice(None))["lengths"].max() <= 5


def test_missing_list_files_are_made_with_the_protocol_split(tmp_path):
    root = make_video_root(tmp_path / "videos")
    tiny = VideoProtocol("tiny", {"train": 2, "query": 1}, "stride")
    dataset = video_retrieval(tiny, root, size=(8, 8))
    assert (root / "lists" / "train.txt").is_file()
    assert [len(dataset.train), len(dataset.query), len(dataset.database)] == [6, 3, 3]
    (root / "lists" / "query.txt").unlink()                   # re-made; the lists folder is not a class
    again = video_retrieval(tiny, root, size=(8, 8))
    assert again.class_names == ["clap", "jump", "wave"] and len(again.query) == 3


def test_list_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "query.txt"
    bad.write_text("a/v1 0 1 0\na/v2 0 1\n")
    with pytest.raises(InputError, match=r"query.txt, line 2: 2 labels, expected 3"):
        read_list_file(bad, num_classes=3, check_files=False, kind="video")
    with pytest.raises(InputError, match="does not exist"):
        read_list_file(tmp_path / "nope.txt", num_classes=3, kind="video")


# --- Moving Fashion-MNIST ------------------------------------------------------------------------------


def test_clip_generator_is_deterministic_for_a_seed_and_moves_the_item():
    items = np.random.default_rng(0).integers(1, 255, size=(6, 28, 28)).astype(np.uint8)
    a, b, c = make_clips(items, 16, 36, seed=5), make_clips(items, 16, 36, seed=5), make_clips(items, 16, 36, seed=6)
    assert a.shape == (6, 16, 1, 36, 36) and torch.equal(a, b) and not torch.equal(a, c)
    paths = clip_paths(200, 16, 36, np.random.default_rng(1))
    assert paths.min() >= 0 and paths.max() <= 8 and (paths[:, 0] != paths[:, -1]).any(axis=1).mean() > 0.8
    y, x = clip_paths(1, 16, 36, np.random.default_rng(2))[0, 7]
    one = make_clips(items[:1], 16, 36, seed=2)
    assert torch.equal(one[0, 7, 0, y:y + 28, x:x + 28], torch.from_numpy(items[0]))


def test_moving_fashion_dataset_is_derived_from_the_items_and_reproducible(fake_fmnist):
    a = moving_fashion_retrieval(fake_fmnist, frames=4, canvas=32, train_per_class=3, database_per_class=5,
                                 query_per_class=2, seed=1)
    b = moving_fashion_retrieval(fake_fmnist, frames=4, canvas=32, train_per_class=3, database_per_class=5,
                                 query_per_class=2, seed=1)
    assert [len(a.train), len(a.database), len(a.query)] == [30, 50, 20]
    assert a.database.images.shape == (50, 4, 1, 32, 32)
    assert torch.equal(a.query.images, b.query.images) and torch.equal(a.train.labels, b.train.labels)
    assert a.database.labels.sum(0).tolist() == [5] * 10 and "derived_from" in a.protocol
    with pytest.raises(InputError, match="fewer than"):
        moving_fashion_retrieval(fake_fmnist, train_per_class=10, database_per_class=10)
