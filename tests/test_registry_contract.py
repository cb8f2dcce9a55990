"""A contract over every registry, as timm tests every name of `list_models()`: each registered method,
hashing model and dataset is built and run on a tiny case, so a new entry is tested the moment it is
registered. The tests are parametrized over the registries themselves, never over a list of names here:

- methods (`attacks.registry.METHODS`): one engine run each beside "Original", scored as its entry says;
- hashing models (`models.available_models()`): built from what their entry says they take (input shape,
  ImageNet weights or random init, a frame encoder), checked to give (B, bits) real values and attacked
  through `hashattack.attack_to_label` (the engine's own per-batch path) within ε;
- datasets (`data.available_datasets()`): a tiny copy written on disk by a builder of this file (every
  registered dataset must have one), opened through its entry, checked against the RetrievalDataset
  contract, and run once through the engine where that is cheap.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hashattack
from conftest import make_fake_fashion_mnist
from test_cifar10 import write_fake_cifar10
from hashattack.attacks.registry import METHODS
from hashattack.data.base import RetrievalDataset
from hashattack.data.image_list import DATASETS as LISTED_DATASETS
from hashattack.data.list_files import write_list_file
from hashattack.data import registry as data_registry
from hashattack.data.registry import DatasetEntry, available_datasets, dataset_entry
from hashattack.data.video import VideoSet
from hashattack.data.video_splits import PROTOCOLS as VIDEO_PROTOCOLS
from hashattack.errors import InputError
from hashattack.models import available_models, create_model, model_entry
from hashattack.models import registry as model_registry
from hashattack.models.registry import ModelEntry
from hashattack.models.inputs import model_inputs
from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.sources import default_train_config, open_data
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec, TrainedModel
from hashattack.training.checkpoints import save_checkpoint
from hashattack.training.frame_pretraining import FramePretraining
from hashattack.training.loop import TrainConfig

THIS_FILE = "tests/test_registry_contract.py"
SPLITS = ("train", "database", "query")


def controls(out: Path) -> RunControls:
    return RunControls(out=str(out), progress=False, figures=False)


# --- methods ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def method_cache(tmp_path_factory) -> Path:
    """One model cache for the method runs: they train the same tiny model, so it is trained once."""
    return tmp_path_factory.mktemp("method-cache")


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_runs_through_the_engine_and_is_scored_as_its_entry_says(name, fake_fmnist, method_cache,
                                                                               tmp_path):
    entry = METHODS[name]
    spec = RunSpec(data=DataSpec(dataset="fashion-mnist", root=str(fake_fmnist), train_per_class=5),
                   model=TrainedModel(bits=8, train=TrainConfig(epochs=1), cache_dir=str(method_cache)),
                   methods=("Original", name), attack=AttackSettings(steps=2, n_t=3, batch_size=2, topk=50),
                   queries=2, controls=controls(tmp_path / "run"))
    record = run(spec)
    result = record["methods"][name]
    assert result["scored_by"] == entry.scored_by, name
    assert entry.scored_by in ("t_map", "map")
    score = result[entry.scored_by]
    assert isinstance(score, float) and math.isfinite(score) and 0.0 <= score <= 1.0, (name, score)
    metric = "MAP" if entry.scored_by == "map" else "t-MAP"
    assert record["summary"][f"{name} {metric}"] == score
    rows = [line for line in (tmp_path / "run" / "table.md").read_text().splitlines() if line.startswith("|")]
    assert any(line.split("|")[1].strip() == name for line in rows), f"table.md has no row of {name}"
    assert any(line.split("|")[1].strip() == name for line in record["table"].splitlines() if line.startswith("|"))


# --- hashing models -----------------------------------------------------------------------------------------

# Models that start from ImageNet weights only (`random_init` False): how to write a stand-in weights file, from
# a randomly initialised torchvision model. The torchvision backbones allow random_init and need none here.
def _alexnet_state() -> dict:
    from torchvision.models import alexnet

    return alexnet(weights=None).state_dict()


WEIGHTS = {"lstm-alexnet": _alexnet_state}
PROBE_SIZES = (32, 64, 224)   # image sizes tried, smallest first, for a model that does not say its own


def model_kwargs(name: str, tmp_path: Path) -> dict:
    """What the entry of `name` says its factory takes besides bits, made here."""
    entry = model_entry(name)
    kwargs = {}
    if entry.input_shape:                    # another shape than its 28x28 grey default: the shape is taken
        kwargs.update(channels=3, size=20)
    if entry.imagenet_weights is not None and not entry.random_init:
        if name not in WEIGHTS:
            pytest.fail(f"model {name} starts from ImageNet weights only (its entry allows no random_init): add a "
                        f"maker of a stand-in weights file (a random torchvision state_dict) to WEIGHTS in {THIS_FILE}")
        path = tmp_path / f"{name}-imagenet.pth"
        torch.save(WEIGHTS[name](), path)
        kwargs["weights"] = str(entry.imagenet_weights(path))    # the file, as a run resolves it
    if entry.frame_encoder:                  # a frame-cnn checkpoint, as the frame pretraining writes it
        pretraining = FramePretraining()
        encoder = create_model("frame-cnn", 10, size=pretraining.canvas, feature_dim=pretraining.feature_dim)
        checkpoint = save_checkpoint(tmp_path / "frame-encoder.pt", encoder)
        kwargs.update(frame_weights=str(checkpoint), size=pretraining.canvas, feature_dim=pretraining.feature_dim)
    return kwargs


def object_shape(name: str, model: torch.nn.Module, kwargs: dict) -> tuple[int, ...]:
    """The shape of one object the model takes: (C, H, W), or (T, C, H, W) for a video model (its normalisation
    buffers are (1, 1, C, 1, 1), broadcast over frames); the size is the one it was given or says it has, else
    the smallest of PROBE_SIZES its layers accept."""
    video = model.mean.dim() == 5
    channels = getattr(model, "channels", None) or model.mean.shape[-3]
    known = kwargs.get("size") or getattr(model, "size", None)
    tried = []
    for size in (known,) if known else PROBE_SIZES:
        shape = ((2,) if video else ()) + (int(channels), size, size)
        try:
            hashattack.encode(model, torch.rand(1, *shape), progress=False)
            return shape
        except InputError as error:
            tried.append(f"{shape}: {error}")
    pytest.fail(f"model {name}: no input shape fits ({'; '.join(tried)}); give it `channels` / `size` attributes "
                f"or register it with input_shape=True")


def build_model(name: str, tmp_path: Path) -> tuple[torch.nn.Module, dict]:
    """The model `name` with 8 bits, built from what its entry says it takes (its stand-in weights file removed
    once read: it can be hundreds of MB)."""
    kwargs = model_kwargs(name, tmp_path)
    torch.manual_seed(0)
    try:
        model = create_model(name, 8, **kwargs).eval()
    except TypeError as error:
        pytest.fail(f"model {name} cannot be built from what its entry says it takes ({sorted(kwargs)}): {error}; "
                    f"say its inputs in its registration (input_shape, imagenet_weights, random_init, frame_encoder)")
    finally:
        for path in tmp_path.glob("*-imagenet.pth"):
            path.unlink()
    return model, kwargs


def test_a_model_registered_with_no_way_to_build_it_here_fails_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setitem(model_registry._REGISTRY, "new-backbone",
                        ModelEntry("new-backbone", lambda bits, weights: None, imagenet_weights=lambda w: Path(w)))
    with pytest.raises(pytest.fail.Exception, match="model new-backbone starts from ImageNet weights only .* WEIGHTS"):
        build_model("new-backbone", tmp_path)


@pytest.mark.parametrize("name", available_models())
def test_every_model_is_built_from_its_entry_and_attacked_within_eps(name, tmp_path):
    model, kwargs = build_model(name, tmp_path)
    shape = object_shape(name, model, kwargs)
    generator = torch.Generator().manual_seed(1)
    database, queries = torch.rand(8, *shape, generator=generator), torch.rand(2, *shape, generator=generator)
    with torch.no_grad():
        outputs = model(queries)
    assert outputs.shape == (2, 8) and outputs.dtype == torch.float32 and bool(torch.isfinite(outputs).all()), name
    labels = torch.arange(8) % 2
    codes = hashattack.encode(model, database, progress=False)
    assert codes.shape == (8, 8) and set(codes.unique().tolist()) <= {-1.0, 1.0}
    eps = 0.05
    adversarial, result = hashattack.attack_to_label(model, queries, [1, 0], codes, labels, n_t=3, eps=eps, steps=2)
    assert adversarial.shape == queries.shape and adversarial.dtype == queries.dtype
    assert float((adversarial - queries).abs().max()) <= eps + 1e-6, name
    assert float(adversarial.min()) >= 0.0 and float(adversarial.max()) <= 1.0
    assert result.codes.shape == result.anchors.shape == (2, 8) and result.distances.shape == (2,)
    assert result.object_ids.shape == (2, 3) and labels[result.object_ids].tolist() == [[1] * 3, [0] * 3]
    assert torch.equal(result.codes, hashattack.encode(model, adversarial, progress=False))


# --- datasets -----------------------------------------------------------------------------------------------


def write_png(path: Path, value: int, size: int, seed: int) -> Path:
    """A small RGB PNG: noise around `value` (so classes differ)."""
    array = np.clip(np.random.default_rng(seed).normal(value, 30, size=(size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def fashion_mnist(root: Path) -> dict:
    make_fake_fashion_mnist(root)
    return {"train_per_class": 5}


def mosaic_fashion(root: Path) -> dict:
    make_fake_fashion_mnist(root)
    return {"mosaics": 150}


def moving_fashion(root: Path) -> dict:
    make_fake_fashion_mnist(root, train_per_class=300, test_per_class=50)   # 100 + 200 train, 50 test clips per class
    return {"frames": 4}


def cifar10(root: Path) -> dict:
    write_fake_cifar10(root)
    return {}


def image_lists(name: str):
    """root/img/*.png with train.txt, database.txt and test.txt, label vectors as wide as the dataset's classes;
    3 classes used, every other image also of the next class (multi-hot, as NUS-WIDE's)."""
    width = LISTED_DATASETS[name]["num_classes"]

    def build(root: Path) -> dict:
        rows = {split: ([], []) for split in SPLITS}
        for c in range(3):
            for i in range(8):
                path = write_png(root / "img" / f"c{c}_{i}.png", 40 + 80 * c, 20, seed=c * 10 + i)
                label = np.zeros(width, dtype=np.uint8)
                label[[c, (c + 1) % 3] if i % 2 else [c]] = 1
                for split in ("query",) if i >= 6 else ("database", "train") if i < 2 else ("database",):
                    rows[split][0].append(path)
                    rows[split][1].append(label)
        for split, file in zip(SPLITS, ("train.txt", "database.txt", "test.txt")):
            write_list_file(root / file, rows[split][0], np.stack(rows[split][1]), root)
        return {}
    return build


def image_folder(root: Path) -> dict:
    """A class-per-subfolder folder of PNGs (the queries split off it)."""
    for c in range(3):
        for i in range(6):
            write_png(root / f"class{c}" / f"{i}.png", 40 + 80 * c, 12, seed=c * 10 + i)
    return {}


def video_folders(name: str):
    """root/<class>/<video>/frame<k>.png: 2 classes of 2-frame videos, one more per class than the protocol's
    per-class splits take (so the database has one per class)."""
    per_class = sum(VIDEO_PROTOCOLS[name].per_class.values()) + 1

    def build(root: Path) -> dict:
        for c in range(2):
            for v in range(per_class):
                folder = root / f"action{c}" / f"v{v}"
                folder.mkdir(parents=True)
                for t in range(2):
                    Image.fromarray(np.full((8, 8, 3), 40 + 100 * c + 10 * t, dtype=np.uint8)).save(
                        folder / f"frame{t + 1}.png")
        return {}
    return build


# dataset name -> builder(root) writing a tiny copy under root and returning the DataSpec options it needs
BUILDERS = {
    "fashion-mnist": fashion_mnist,
    "mosaic-fashion": mosaic_fashion,
    "moving-fashion": moving_fashion,
    "cifar10": cifar10,
    "imagenet100": image_lists("imagenet100"),
    "nus-wide": image_lists("nus-wide"),
    "images": image_folder,
    "jhmdb": video_folders("jhmdb"),
    "ucf101": video_folders("ucf101"),
}


def missing_builder(name: str) -> str:
    return (f"dataset {name} is registered but {THIS_FILE} cannot write a tiny copy of it: add a builder "
            f"(root -> DataSpec options) to BUILDERS there")


def missing_builders() -> list[str]:
    return [name for name in available_datasets() if name not in BUILDERS]


def test_every_registered_dataset_has_a_builder():
    missing = missing_builders()
    assert not missing, "; ".join(missing_builder(name) for name in missing)
    stale = sorted(set(BUILDERS) - set(available_datasets()))
    assert not stale, f"BUILDERS in {THIS_FILE} builds datasets no longer registered: {', '.join(stale)}"


def test_a_dataset_registered_without_a_builder_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(data_registry._REGISTRY, "new-set", DatasetEntry(name="new-set", summary="new-set (test)",
                                                                         open=lambda spec, seed: None))
    assert missing_builders() == ["new-set"]
    with pytest.raises(pytest.fail.Exception, match="^dataset new-set is registered but .* add a builder"):
        tiny_spec("new-set", tmp_path)


def tiny_spec(name: str, root: Path) -> DataSpec:
    if name not in BUILDERS:
        pytest.fail(missing_builder(name))
    options = BUILDERS[name](root)
    return DataSpec(dataset=name, root=str(root), **options)


@pytest.mark.parametrize("name", available_datasets())
def test_every_dataset_opens_through_its_entry_and_keeps_the_dataset_contract(name, tmp_path):
    entry = dataset_entry(name)
    spec = tiny_spec(name, tmp_path / name)
    assert spec.is_video == entry.video
    data = open_data(spec, 0).dataset
    assert isinstance(data, RetrievalDataset)
    widths, shapes = set(), set()
    for split in SPLITS:
        objects = getattr(data, split)
        count = len(objects)
        assert count > 0, f"{name}: empty {split} set"
        labels = objects.labels
        assert labels.dtype == torch.uint8 and labels.dim() == 2 and len(labels) == count, (name, split)
        assert set(labels.unique().tolist()) <= {0, 1} and bool((labels.sum(1) >= 1).all()), (name, split)
        assert len(objects.ids) == count and isinstance(objects, VideoSet) == entry.video, (name, split)
        widths.add(labels.shape[1])
        index = torch.tensor(sorted({0, count - 1}))            # its first and last objects
        pixels = objects.pixels(index)
        assert pixels.dtype == torch.float32 and len(pixels) == len(index), (name, split)
        assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0, (name, split)
        shapes.add(tuple(pixels.shape[1:]))
        extra = model_inputs(objects, index)
        if entry.video:
            lengths = extra["lengths"]
            assert lengths.shape == (len(index),) and bool((lengths >= 1).all())
            assert bool((lengths <= pixels.shape[1]).all())
        else:
            assert extra == {}
    assert widths == {data.num_classes}, f"{name}: label widths {widths}"
    assert len(shapes) == 1, f"{name}: the sets' objects differ in shape: {shapes}"
    (shape,) = shapes
    assert len(shape) == (4 if entry.video else 3), f"{name}: objects of shape {shape}, video = {entry.video}"


def engine_model(name: str, cache: Path) -> TrainedModel:
    """The dataset's default model trained for one epoch; the small CNN where an image dataset's default needs
    ImageNet weights."""
    entry = dataset_entry(name)
    architecture = entry.architecture
    if model_entry(architecture).imagenet_weights is not None:
        if entry.video:
            # jhmdb / ucf101: lstm-alexnet on 224x224 frames padded to 40 takes 45-55 s a run on these CPUs (and a
            # 244 MB weights file); lstm-alexnet is attacked in the model test and the data opens above.
            pytest.skip(f"{name}: its video model {architecture} needs ImageNet weights and is too slow to run here")
        architecture = "small-cnn"
    train = replace(default_train_config(name, architecture), epochs=1)
    return TrainedModel(bits=8, architecture=architecture, train=train, cache_dir=str(cache))


@pytest.mark.parametrize("name", available_datasets())
def test_every_dataset_runs_through_the_engine(name, tmp_path):
    """One tiny run. moving-fashion's lstm-frame-cnn pretrains its frame encoder on the tiny Fashion-MNIST copy
    (about 2 s) first."""
    entry = dataset_entry(name)
    model = engine_model(name, tmp_path / "cache")      # skips before any data is written
    spec = tiny_spec(name, tmp_path / name)
    run_spec = RunSpec(data=spec, model=model, methods=("Original", "DHTA"),
                       attack=AttackSettings(steps=2, n_t=1, batch_size=2), queries=2,
                       controls=controls(tmp_path / "run"))
    record = run(run_spec)
    assert 1 <= record["num_queries"] <= 2
    settings = record["settings"]
    assert (settings["eps"], settings["eps_space"]) == (entry.eps, entry.eps_space)
    assert settings["topk"] == entry.topk_for(spec) and settings["zero_relevance"] == entry.zero_relevance
    assert settings["step_size"] == entry.step_size_for(2)
    for method in ("Original", "DHTA"):
        result = record["methods"][method]
        assert all(math.isfinite(result[key]) for key in ("t_map", "map")), (name, method, result)
    assert (tmp_path / "run" / "results.json").is_file() and "DHTA" in (tmp_path / "run" / "table.md").read_text()
