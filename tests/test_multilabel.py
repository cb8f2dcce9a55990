"""The multi-label embedded dataset (2x2 mosaics of Fashion-MNIST items): deterministic, multi-hot, skewed,
split in NUS-WIDE's shape, with its defaults (HashNet loss, R in NUS-WIDE's proportion), through the engine."""

import json

import numpy as np
import pytest
import torch

from hashattack.data.catalog import default_topk, open_dataset
from hashattack.data.fashion_mnist import load_fashion_mnist
from hashattack.data.mosaic import (SIZES, downsample, draw_classes, mosaic_fashion_retrieval, mosaic_topk,
                                    multi_hot, proportional, render)
from hashattack.errors import InputError
from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.sources import default_train_config
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec, TrainedModel
from hashattack.protocol.targets import choose_targets
from hashattack.training.loop import TrainConfig


@pytest.fixture(scope="module")
def mosaics(fake_fmnist):
    return mosaic_fashion_retrieval(fake_fmnist, database=400, queries=30, seed=3)


def test_same_seed_same_mosaics_other_seed_others(fake_fmnist, mosaics):
    again = mosaic_fashion_retrieval(fake_fmnist, database=400, queries=30, seed=3)
    other = mosaic_fashion_retrieval(fake_fmnist, database=400, queries=30, seed=4)
    for part in ("train", "database", "query"):
        assert torch.equal(getattr(again, part).images, getattr(mosaics, part).images)
        assert torch.equal(getattr(again, part).labels, getattr(mosaics, part).labels)
    assert not torch.equal(other.database.labels, mosaics.database.labels)
    assert mosaics.name == "mosaic-fashion" and "Fashion-MNIST" in mosaics.protocol["derived_from"]


def test_split_shapes_follow_nus_wide(mosaics):
    assert (len(mosaics.database), len(mosaics.query), mosaics.image_shape) == (400, 30, (1, 28, 28))
    assert len(mosaics.train) == proportional(10_500, 400) == 22          # 10,500 / 193,734 of the database
    in_database = mosaics.database.images[mosaics.train.ids]              # the training sample is drawn from it
    assert torch.equal(in_database, mosaics.train.images) and len(set(mosaics.train.ids.tolist())) == 22
    assert proportional(10_500, 60_000) == 3252 and mosaic_topk() == 1549 == default_topk("mosaic-fashion")
    assert mosaic_topk(400) == 10


def test_each_quadrant_is_a_downsampled_item_of_a_class_in_the_label(fake_fmnist, mosaics):
    arrays = load_fashion_mnist(fake_fmnist)
    for split, part in (("train", mosaics.database), ("test", mosaics.query)):
        tiles = torch.from_numpy(downsample(arrays[f"{split}_images"][:, 0].numpy()))
        classes = arrays[f"{split}_labels"]
        for image, label in zip(part.images[:25, 0], part.labels[:25]):
            assert 1 <= int(label.sum()) <= 4 and set(label.unique().tolist()) <= {0, 1}
            found = set()
            for quadrant in (image[:14, :14], image[:14, 14:], image[14:, :14], image[14:, 14:]):
                same = (tiles == quadrant).flatten(1).all(1)
                assert same.any()
                found |= {int(c) for c in classes[same]}
            assert set(torch.nonzero(label).flatten().tolist()) == found


def test_render_and_multi_hot_are_the_union_of_the_quadrants():
    tiles = np.stack([np.full((14, 14), v, np.uint8) for v in (10, 20, 30, 40)])
    image = render(tiles, np.array([[0, 1, 2, 3]]))[0, 0]
    assert image[0, 0] == 10 and image[0, 27] == 20 and image[27, 0] == 30 and image[27, 27] == 40
    assert multi_hot(np.array([[2, 2, 5, 2]]), 10).tolist() == [[0, 0, 1, 0, 0, 1, 0, 0, 0, 0]]
    assert downsample(np.array([[[0, 2], [3, 4]]], np.uint8).repeat(14, 1).repeat(14, 2)).shape == (1, 14, 14)


def test_label_vectors_are_skewed_with_a_long_tail():
    classes = draw_classes(20_000, np.random.default_rng(0))
    labels = multi_hot(classes).numpy()
    frequency = labels.mean(0)
    assert frequency[0] > 0.45 and frequency[9] < 0.09 and frequency[0] / frequency[9] > 5     # a few frequent, a tail
    assert np.all(np.diff(frequency) < 0.01)                                                   # falling with the rank
    sizes = np.bincount(labels.sum(1), minlength=5)[1:] / len(labels)
    assert np.allclose(sizes, SIZES, atol=0.015)                    # 1..4 distinct classes, repeats filling the rest
    assert len(np.unique(labels, axis=0)) > 250                     # many overlapping label vectors


def test_targets_on_multi_hot_labels_follow_the_official_rule(mosaics):
    db = mosaics.database.labels.numpy()
    manifest = choose_targets(mosaics.query.labels.numpy(), db, 20, n_ts=(1, 9), seed=0)
    for qid, target, objects in zip(manifest.query_ids, manifest.target_labels, manifest.anchor_ids[9]):
        members = np.flatnonzero((db == target).all(1))
        assert len(members) > 9 and set(objects) <= set(members.tolist())
        assert not np.array_equal(target, mosaics.query.labels[qid].numpy())


def test_defaults_and_bad_sizes(fake_fmnist):
    settings = AttackSettings().resolved(DataSpec(dataset="mosaic-fashion"))
    assert (settings.eps, settings.eps_space, settings.steps, settings.step_size, settings.topk,
            settings.zero_relevance) == (0.2, "pixel", 2000, 1.0, 1549, "drop")
    assert DataSpec(dataset="mosaic-fashion").entry.eps_sweep_in() == (0.02, 0.05, 0.1, 0.15, 0.2)
    assert AttackSettings().resolved(DataSpec(dataset="mosaic-fashion", mosaics=400)).topk == 10
    assert default_train_config("mosaic-fashion", "small-cnn").loss == "hashnet"
    assert default_train_config("fashion-mnist", "small-cnn").loss == "pairwise"
    assert len(open_dataset("mosaic-fashion", fake_fmnist, mosaics=50).database) == 50
    with pytest.raises(InputError, match="train must be between"):
        mosaic_fashion_retrieval(fake_fmnist, database=10, train=11)
    with pytest.raises(InputError, match="mosaics must be a positive integer"):
        DataSpec(dataset="mosaic-fashion", mosaics=0)


def test_tiny_run_through_the_engine(fake_fmnist, tmp_path):
    spec = RunSpec(data=DataSpec(dataset="mosaic-fashion", root=str(fake_fmnist), mosaics=150),
                   model=TrainedModel(bits=8, train=TrainConfig(epochs=2, loss="hashnet"), cache_dir=str(tmp_path / "c")),
                   attack=AttackSettings(eps=0.2, steps=3, n_t=3, topk=mosaic_topk(150)), queries=4,
                   controls=RunControls(out=str(tmp_path / "run"), progress=False, figures=False))
    run(spec)
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["dataset"] == "mosaic-fashion" and record["num_queries"] == 4
    assert set(record["methods"]) == {"Original", "Noise", "P2P", "DHTA"}
    assert all(0.0 <= entry["t_map"] <= 1.0 for entry in record["methods"].values())
    assert record["model"]["train"]["loss"] == "hashnet"
