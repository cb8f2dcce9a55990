"""The one-call API: attack_to_label equals the engine on the same queries, targets, objects and seed;
labels where DHTA expects anchor codes are a one-line error; the docstring examples run."""

from __future__ import annotations

import doctest
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import hashattack
from hashattack import DHTA, InputError, attack_to_label
from hashattack.protocol import api
from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.sources import obtain_model, open_data
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec, TrainedModel
from hashattack.protocol.targets import Manifest, load_manifest
from hashattack.retrieval.codes import codes_to_hex
from hashattack.training.loop import TrainConfig


def test_docstring_examples_run():
    assert doctest.testmod(api, raise_on_error=False).failed == 0


@pytest.fixture(scope="module")
def tiny(fake_fmnist, tmp_path_factory):
    """A tiny run spec (DHTA only, 3 steps) and its model and database codes from the cache."""
    cache = tmp_path_factory.mktemp("api-cache")
    spec = RunSpec(data=DataSpec(root=str(fake_fmnist), train_per_class=5),
                   model=TrainedModel(bits=16, train=TrainConfig(epochs=1), cache_dir=str(cache)),
                   methods=("DHTA",), attack=AttackSettings(steps=3, n_t=3, batch_size=2, topk=50), queries=5,
                   seed=3, controls=RunControls(progress=False, figures=False))
    source = open_data(spec.data)
    model, _ = obtain_model(spec.model, spec.data, source, progress=False)
    codes = hashattack.encode(model, source.dataset.database, progress=False)
    return spec, source.dataset, model, codes


def test_attack_to_label_equals_the_engine_on_its_manifest(tiny, tmp_path):
    spec, dataset, model, db_codes = tiny
    record = run(replace(spec, controls=replace(spec.controls, out=str(tmp_path / "run"))))
    manifest = load_manifest(tmp_path / "run" / "manifest.json")
    images = dataset.query.pixels(torch.tensor(manifest.query_ids))
    adversarial, result = attack_to_label(model, images, manifest.target_labels, db_codes, dataset.database.labels,
                                          n_t=3, eps=0.2, steps=3, seed=manifest.seed, batch_size=2,
                                          object_ids=manifest.anchor_ids[3])
    assert codes_to_hex(result.codes) == record["methods"]["DHTA"]["codes"]
    assert result.distances.tolist() == record["methods"]["DHTA"]["anchor_hamming"]
    assert float((adversarial - images).abs().max()) <= 0.2 + 1e-6
    t_ap = result.t_ap(db_codes, dataset.database.labels, topk=50)
    assert record["methods"]["DHTA"]["t_ap"] == [None if np.isnan(v) else round(float(v), 6) for v in t_ap]


def test_the_engine_equals_attack_to_label_on_its_own_draw(tiny, tmp_path):
    """The API draws the objects itself (seeded); a manifest of its queries, targets and objects re-run by
    the engine gives the same codes."""
    spec, dataset, model, db_codes = tiny
    query_ids = [0, 7, 11, 30]
    targets = [(int(dataset.query.labels[q].argmax()) + 1) % 10 for q in query_ids]   # class indices
    images = dataset.query.pixels(torch.tensor(query_ids))
    _, result = attack_to_label(model, images, targets, db_codes, dataset.database.labels.argmax(1), n_t=3,
                                eps=0.2, steps=3, seed=5, batch_size=2)
    assert all(dataset.database.labels[ids].argmax(1).eq(t).all() for ids, t in zip(result.object_ids, targets))
    ids = result.object_ids.tolist()
    Manifest(5, query_ids, result.target_labels.numpy(), {1: [r[:1] for r in ids], 3: ids},
             dataset.name).save(tmp_path / "manifest.json")
    record = run(replace(spec, manifest=str(tmp_path / "manifest.json"),
                         controls=replace(spec.controls, out=str(tmp_path / "run"))))
    assert codes_to_hex(result.codes) == record["methods"]["DHTA"]["codes"]


def test_labels_given_to_dhta_instead_of_anchor_codes_are_a_one_line_error():
    model = hashattack.create_model("small-cnn", 8)
    images = torch.rand(2, 1, 28, 28)
    for labels in (torch.tensor([3, 5]), torch.tensor([[0, 1, 0], [1, 0, 0]])):
        with pytest.raises(InputError, match="anchor codes.*attack_to_label") as error:
            DHTA(model, eps=0.1, steps=1)(images, labels)
        assert "\n" not in str(error.value)


def test_attack_to_label_refuses_bad_input_in_one_line():
    model = hashattack.create_model("small-cnn", 8)
    codes = torch.ones(12, 8)
    labels = torch.arange(12) % 2
    images = torch.rand(1, 1, 28, 28)
    cases = [((images, [5], codes, labels), "beyond the 2 classes"),
             ((images, [1, 0], codes, labels), "1 images but 2 target labels"),
             ((images, [1], codes[:5], labels), "5 database codes but 12"),
             ((images, [1], codes * 2, labels), "database_codes"),
             ((images, [1], codes, labels), "fewer than n_t = 9")]
    for arguments, message in cases[:-1]:
        with pytest.raises(InputError, match=message):
            attack_to_label(model, *arguments, n_t=3, steps=1)
    with pytest.raises(InputError, match=cases[-1][1]):
        attack_to_label(model, *cases[-1][0], steps=1)
    with pytest.raises(InputError, match="DHTA or P2P"):
        attack_to_label(model, images, [1], codes, labels, method="Noise")


def test_p2p_votes_one_object_and_quantize_ends_on_the_8bit_grid():
    model = hashattack.create_model("small-cnn", 8)
    codes = hashattack.encode(model, torch.rand(12, 1, 28, 28), progress=False)
    images = torch.randint(0, 256, (2, 1, 28, 28)).float() / 255
    adversarial, result = attack_to_label(model, images, [0, 1], codes, torch.arange(12) % 2, method="P2P",
                                          eps=0.1, steps=3, quantize=True)
    assert result.object_ids.shape == (2, 1)
    assert torch.equal(adversarial, torch.round(adversarial * 255) / 255)
    assert float((adversarial - images).abs().max()) <= 0.1 + 1e-6


def test_the_readme_three_line_attack_runs():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "attack_to_label" in b)
    assert len(block.strip().splitlines()) == 3
    model = hashattack.create_model("small-cnn", 8)
    scope = {"model": model, "db_images": torch.rand(30, 1, 28, 28), "db_labels": torch.arange(30) % 3,
             "images": torch.rand(2, 1, 28, 28), "target_labels": [1, 2]}
    exec(block.replace("eps=0.2)", "eps=0.2, steps=2)"), scope)
    assert scope["adversarial"].shape == (2, 1, 28, 28) and scope["result"].codes.shape == (2, 8)
