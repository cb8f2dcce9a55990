"""Methods own their calling: the protocol asks the registry entry (no switches on names or classes), builds
each attack once per run point, and runs every method through one per-batch path whose post-processing is
an argument; a batch of queries gives what one query at a time gives, for every registered method."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import hashattack
from hashattack.attacks import registry
from hashattack.attacks.registry import METHOD_ORDER, METHODS, build_attack, method
from hashattack.errors import InputError
from hashattack.models import create_model
from hashattack.protocol.attacking import Finish, attacked_batches, codes_from_records
from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec, TrainedModel
from hashattack.training.loop import TrainConfig

PROTOCOL = Path(hashattack.__file__).parent / "protocol"
NAMES = "|".join(METHOD_ORDER)
SWITCHES = (re.compile(r"isinstance\([^)]*\b(Attack|Noise|Original|DHTA|P2P|Untargeted|FeatureAttack)\b"),
            re.compile(rf"(==|!=|\bin)\s*[\"']({NAMES})[\"']"),
            re.compile(rf"[\"']({NAMES})[\"']\s*(==|!=|\bin\b|\bnot in\b)"))


def test_the_protocol_has_no_switches_on_methods():
    hits = [f"{path.name}:{number}: {line.strip()}" for path in sorted(PROTOCOL.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if any(pattern.search(line) for pattern in SWITCHES)]
    assert hits == []


def test_the_switch_patterns_catch_what_they_are_for():
    caught = ['if isinstance(attack, Noise):', 'elif name != "Original" and "Original" in codes:',
              'n = 1 if method == "P2P" else n_t']
    assert all(any(p.search(line) for p in SWITCHES) for line in caught)
    assert not any(p.search('anchors = targets_for("DHTA", manifest)') for p in SWITCHES)


def test_the_entry_says_how_a_method_is_called_targeted_and_scored():
    anchor_ids = {1: [[0], [2]], 3: [[0, 1, 2], [3, 4, 5]]}
    db_codes = torch.tensor([[1.0, -1], [1, 1], [-1, 1], [1, -1], [-1, -1], [-1, -1]])
    pixels = lambda ids: torch.stack([torch.full((1, 2, 2), float(i)) for i in ids.tolist()])
    assert method("DHTA").target_size(3) == 3 and method("P2P").target_size(3) == 1
    assert method("Original").target_size(3) == 3 and method("Untargeted").anchor_objects(3) is None
    assert method("Original").targets(anchor_ids, 3, db_codes, pixels) == (None, None)
    anchors, targets = method("DHTA").targets(anchor_ids, 3, db_codes, pixels)
    assert anchors.tolist() == [[1, 1], [-1, -1]] and targets is anchors
    anchors, targets = method("Feature").targets(anchor_ids, 3, db_codes, pixels)
    assert anchors.tolist() == [[1, -1], [-1, 1]] and targets[:, 0, 0, 0].tolist() == [0.0, 2.0]
    with pytest.raises(InputError, match=r"^the manifest holds no anchors for n_t = 9 \(it has \[1, 3\]\)$"):
        method("DHTA").targets(anchor_ids, 9, db_codes, pixels)
    assert [m for m in METHOD_ORDER if METHODS[m].benign] == ["Original"]
    assert [m for m in METHOD_ORDER if METHODS[m].takes_ids] == ["Noise"]
    assert [m for m in METHOD_ORDER if METHODS[m].scored_by == "map"] == ["Original", "Untargeted", "Center"]
    assert method("Center").anchor_objects(3) is None and method("Center").target_size(3) == 3


@pytest.mark.parametrize("name", METHOD_ORDER)
def test_every_method_batched_gives_what_one_query_at_a_time_gives(name):
    """Through the protocol's own path (targets from the entry, `Method.call`, encode): batch 4 == batch 1."""
    torch.manual_seed(0)
    model = create_model("small-cnn", 8, feature_dim=16).eval()
    images, database = torch.rand(5, 1, 28, 28), torch.rand(12, 1, 28, 28)
    db_codes = hashattack.encode(model, database, progress=False)
    anchor_ids = {1: [[i] for i in range(5)], 3: [[i, i + 5, (i + 7) % 12] for i in range(5)]}
    _, targets = method(name).targets(anchor_ids, 3, db_codes, lambda ids: database[ids], torch.arange(5) % 3,
                                      torch.arange(12) % 3)
    attack = build_attack(name, model, **AttackSettings(eps=0.1, steps=4, n_t=3).resolved(DataSpec()).attack_options(seed=2))
    runs = [attacked_batches(name, attack, model, images, targets, [10, 11, 12, 13, 14], size, progress=False,
                             keep_all=True) for size in (4, 1)]
    (batched, pixels), (single, one_by_one) = runs
    assert torch.equal(codes_from_records(batched), codes_from_records(single))
    assert torch.equal(pixels, one_by_one)
    if not METHODS[name].benign:
        assert not torch.equal(pixels, images)   # it attacked (the noise of query 10 is its own, whatever the batch)


def test_post_processing_is_an_argument_of_the_batch_loop(tmp_path):
    torch.manual_seed(0)
    model = create_model("small-cnn", 8, feature_dim=16).eval()
    images, anchors = torch.rand(3, 1, 28, 28), torch.where(torch.randn(3, 8) > 0, 1.0, -1.0)
    attack = build_attack("DHTA", model, eps=0.05, steps=3)
    _, plain = attacked_batches("DHTA", attack, model, images, anchors, [0, 1, 2], 2, progress=False)
    finish = Finish(quantize=True, export=tmp_path, names={0: "a", 1: "b", 2: "c"})
    _, quantized = attacked_batches("DHTA", attack, model, images, anchors, [0, 1, 2], 2, progress=False,
                                    finish=finish)
    assert not torch.equal(plain, quantized)
    assert torch.equal(quantized, torch.round(quantized * 255) / 255)              # on the 8-bit grid
    assert float((quantized - images).abs().max()) <= 0.05 + 1e-6                  # inside the ε ball
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == \
        [f"export/{d}{n}.png" for d in ("DHTA/", "perturbation/DHTA/") for n in "abc"]


@pytest.fixture
def counted(monkeypatch):
    """Every registered attack class replaced by a subclass counting its constructions, per method."""
    counts: dict[str, int] = {}
    for name, entry in METHODS.items():
        def init(self, *args, _name=name, _base=entry.attack, **kwargs):
            counts[_name] = counts.get(_name, 0) + 1
            _base.__init__(self, *args, **kwargs)
        monkeypatch.setitem(registry.METHODS, name, replace(entry, attack=type(entry.attack.__name__, (entry.attack,),
                                                                                  {"__init__": init})))
    return counts


def test_each_attack_is_built_once_per_run_point(fake_fmnist, tmp_path, counted):
    methods = ("Original", "Noise", "Untargeted", "P2P", "DHTA")
    spec = RunSpec(data=DataSpec(root=str(fake_fmnist), train_per_class=5),
                   model=TrainedModel(bits=16, train=TrainConfig(epochs=1), cache_dir=str(tmp_path / "cache")),
                   methods=methods, attack=AttackSettings(steps=2, n_t=3, batch_size=2, topk=50), queries=3,
                   axes=(("eps", (0.1, 0.2)),), controls=RunControls(out=str(tmp_path / "sweep"), progress=False, figures=False))
    summary = run(spec)
    assert counted == {name: 2 for name in methods}          # two points, one build each
    assert all(r["methods"]["DHTA"]["attack"]["eps"] == [eps] for r, eps in zip(summary["records"], (0.1, 0.2)))
    assert np.isfinite(summary["records"][0]["methods"]["Untargeted"]["map"])
