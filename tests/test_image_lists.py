"""List files (HashNet multi-hot and class-index forms), their errors, the official crops, and split builders."""

import numpy as np
import pytest

from hashattack.cli.main import main
import torch
from PIL import Image

from hashattack.data.catalog import open_dataset
from hashattack.data.image_list import center_offset, list_retrieval, image_list_set, eval_transform
from hashattack.data.list_files import read_list_file
from hashattack.data.splits import build_imagenet100_lists, build_nus_wide_lists, nus_wide_relative_path
from hashattack.errors import InputError
from paper_scale_helpers import image_list_dataset, write_image, write_list


@pytest.fixture
def images(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / "img" / name, size=12)
    return tmp_path


def test_multi_hot_and_index_forms(images):
    paths, labels = read_list_file(write_list(images / "l.txt", [("img/a.png", [0, 1, 1]), ("img/b.png", [1, 0, 0])]))
    assert paths == [images / "img/a.png", images / "img/b.png"]
    assert labels.tolist() == [[0, 1, 1], [1, 0, 0]] and labels.dtype == torch.uint8
    paths, labels = read_list_file(write_list(images / "i.txt", [("img/a.png", [2]), ("img/c.png", [0])]), num_classes=4,
                                   class_index=True)
    assert labels.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]


@pytest.mark.parametrize("rows, message", [
    ([("img/a.png", [0, 1]), ("img/b.png", [1, 0, 0])], "line 2: 3 labels after the path, expected 2"),
    ([("img/a.png", [0, 1]), ("img/b.png", [1, 0, 0, 1])], "line 2: 4 labels after the path, expected 2"),
    ([("img/a.png", [0, 1]), ("img/b.png", [1])], "line 2: 1 labels, but the first line has 2"),
    ([("img/a.png", [0, 1]), ("img/b.png", [1, 2])], "line 2: labels must be 0 or 1, got '2'"),
    ([("img/a.png", [0, 1]), ("img/missing.png", [1, 0])], "line 2: image .*missing.png does not exist"),
    ([("img/a.png", [1, 0]), ("img/b.png", ["x", 0])], "line 2: labels must be 0 or 1, got 'x'"),
    ([("img/a.png", [0, 0])], "line 1: the label vector is all zeros"),
    ([("img/a.png", [])], "line 1: no labels after the path"),
])
def test_list_errors_name_file_and_line(images, rows, message):
    path = write_list(images / "bad.txt", rows)
    with pytest.raises(InputError, match=message) as error:
        read_list_file(path)
    assert "bad.txt" in str(error.value)


def test_list_errors_on_class_count_and_absent_file(images):
    with pytest.raises(InputError, match="line 1: 2 labels, expected 100"):
        read_list_file(write_list(images / "l.txt", [("img/a.png", [0, 1])]), num_classes=100)
    with pytest.raises(InputError, match="does not exist"):
        read_list_file(images / "nope.txt")


def test_official_test_crop_offsets(tmp_path):
    assert center_offset(256, 224) == 16 and center_offset(36, 32) == 2 and center_offset(37, 32) == 2
    x, y = np.meshgrid(np.arange(256), np.arange(256))
    image = Image.fromarray(np.stack([x, y, np.zeros_like(x)], axis=2).astype(np.uint8))
    out = eval_transform(image)                       # resize 256 -> 256 is exact, crop 224 at (16, 16)
    assert out.shape == (3, 224, 224)
    assert round(out[0, 0, 0].item() * 255) == 16 and round(out[1, 0, 0].item() * 255) == 16
    assert round(out[0, 0, -1].item() * 255) == 16 + 223 and round(out[1, -1, 0].item() * 255) == 16 + 223
    official = np.asarray(image.crop((15.5, 15.5, 15.5 + 224, 15.5 + 224)))   # PlaceCrop's float box, Python 3
    assert np.array_equal(np.round(out.permute(1, 2, 0).numpy() * 255).astype(np.uint8), official)
    assert round(eval_transform(image, crop_offset=0)[0, 0, 5].item() * 255) == 5


def test_image_list_set_pixels_and_subset(tmp_path):
    root = image_list_dataset(tmp_path, classes=2, per_class=3, queries_per_class=1)
    data = image_list_set(root / "database.txt", root, resize_size=36, crop_size=32)
    pixels = data.pixels(torch.tensor([0, 4]))
    assert pixels.shape == (2, 3, 32, 32) and 0 <= pixels.min() and pixels.max() <= 1
    assert torch.equal(data.subset(torch.tensor([4])).pixels(slice(None)), pixels[1:])
    augmented = image_list_set(root / "train.txt", root, augment=True, crop_size=32)
    assert augmented.pixels(slice(0, 3)).shape == (3, 3, 32, 32)
    dataset = list_retrieval("tiny", root, resize_size=36, crop_size=32)
    assert (len(dataset.train), len(dataset.database), len(dataset.query)) == (6, 6, 2)
    assert dataset.database.labels.shape == (6, 2)
    with pytest.raises(InputError, match="needs --root"):
        open_dataset("nus-wide")


def _imagenet_folder(root, classes=4, train=5, val=2):
    for c in range(classes):
        for i in range(train):
            write_image(root / "train" / f"n0{c}" / f"n0{c}_{i}.JPEG", size=8)
        for i in range(val):
            write_image(root / "val" / f"n0{c}" / f"val_{c}_{i}.JPEG", size=8)
    return root


def test_imagenet100_builder_counts_and_disjointness(tmp_path):
    root = _imagenet_folder(tmp_path)
    written = build_imagenet100_lists(root, num_classes=3, train_per_class=2, seed=1)
    assert len(written["classes"]) == 3
    assert [written[s]["count"] for s in ("train", "database", "query")] == [6, 15, 6]
    sets = {s: read_list_file(root / n)[0] for s, n in (("train", "train.txt"), ("database", "database.txt"),
                                                         ("query", "test.txt"))}
    assert set(sets["train"]) <= set(sets["database"])
    assert not set(sets["query"]) & set(sets["database"])
    labels = read_list_file(root / "train.txt")[1]
    assert labels.sum(0).tolist() == [2, 2, 2] and labels.sum(1).eq(1).all()
    assert build_imagenet100_lists(root, tmp_path / "again", num_classes=3, train_per_class=2, seed=1)["classes"] \
        == written["classes"]
    assert (tmp_path / "again" / "train.txt").read_text() == (root / "train.txt").read_text()
    with pytest.raises(InputError, match="fewer than 9 for training"):
        build_imagenet100_lists(root, num_classes=3, train_per_class=9)
    (tmp_path / "classes.txt").write_text("n01\nn03\n")
    assert main(["lists", "imagenet100", "--root", str(root), "--out", str(tmp_path / "cli"), "--train-per-class", "2",
                 "--classes-file", str(tmp_path / "classes.txt")]) == 0
    assert read_list_file(tmp_path / "cli" / "test.txt", root)[1].shape == (4, 2)


def test_nus_wide_builder_keeps_top_concepts(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    entries = [f"C:\\ImageData\\Flickr\\cat{i % 3}\\{i:04d}.jpg" for i in range(n)]
    (tmp_path / "Imagelist.txt").write_text("\n".join(entries) + "\n")
    frequencies = {"sky": 0.7, "water": 0.5, "person": 0.4, "rare": 0.05}
    labels_dir = tmp_path / "AllLabels"
    labels_dir.mkdir()
    columns = {}
    for concept, p in frequencies.items():
        columns[concept] = (rng.random(n) < p).astype(int)
        (labels_dir / f"Labels_{concept}.txt").write_text("\n".join(map(str, columns[concept])) + "\n")
    for i in range(n - 2):                    # the last two images are missing from the folder
        write_image(tmp_path / "images" / nus_wide_relative_path(entries[i]), size=8)
    written = build_nus_wide_lists(tmp_path / "images", tmp_path / "Imagelist.txt", labels_dir,
                                   num_concepts=3, num_queries=5, num_train=8, seed=0)
    assert written["concepts"] == ["sky", "water", "person"]
    top = np.stack([columns[c] for c in written["concepts"]], axis=1)[: n - 2]
    kept = int(top.any(axis=1).sum())
    assert written["query"]["count"] == 5 and written["train"]["count"] == 8
    assert written["database"]["count"] == kept - 5
    root = tmp_path / "images"
    query, q_labels = read_list_file(root / "test.txt")
    database, _ = read_list_file(root / "database.txt")
    train, t_labels = read_list_file(root / "train.txt")
    assert not set(query) & set(database) and set(train) <= set(database)
    assert q_labels.shape[1] == 3 and q_labels.sum(1).min() >= 1 and t_labels.sum(1).min() >= 1
    assert nus_wide_relative_path("C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg") == "Flickr/actor/0001_2124494179.jpg"
    (labels_dir / "Labels_bad.txt").write_text("0\n1\n")
    with pytest.raises(InputError, match="Labels_bad.txt: 2 labels, expected one per image"):
        build_nus_wide_lists(root, tmp_path / "Imagelist.txt", labels_dir, num_concepts=3)
