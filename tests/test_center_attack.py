"""CgAT's center-code attack: the center code is the vote of the database codes sharing the query's label,
the attack moves the code away from it within ε, and a run scores it by MAP like the untargeted attack."""

from __future__ import annotations

import pytest
import torch

from hashattack.attacks.center import CenterAttack, center_codes
from hashattack.attacks.registry import method
from hashattack.errors import InputError
from hashattack.models import create_model
from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec, TrainedModel
from hashattack.retrieval.codes import anchor_code, hamming_distance
from hashattack.training.loop import TrainConfig


def test_the_center_code_is_the_vote_of_the_objects_sharing_a_label():
    db_codes = torch.tensor([[1.0, 1, -1], [1, -1, -1], [-1, -1, 1], [-1, 1, 1], [1, 1, 1]])
    db_labels = torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1]])
    centers = center_codes(db_codes, db_labels, torch.tensor([[1, 0], [0, 1]]))
    assert torch.equal(centers[0], anchor_code(db_codes[[0, 1, 4]]))
    assert torch.equal(centers[1], anchor_code(db_codes[[2, 3, 4]]))
    assert torch.equal(center_codes(db_codes, torch.tensor([0, 0, 1, 1, 1]), torch.tensor([1])),
                       anchor_code(db_codes[2:]).unsqueeze(0))   # class indices work too
    with pytest.raises(InputError, match=r"^query 0 shares no label with any database object"):
        center_codes(db_codes, torch.nn.functional.pad(db_labels, (0, 1)), torch.tensor([[0, 0, 1]]))


def test_the_attack_moves_codes_away_from_the_centers_within_eps():
    torch.manual_seed(0)
    model = create_model("small-cnn", 16, feature_dim=16).eval()
    images = torch.rand(4, 1, 28, 28)
    centers = torch.where(torch.randn(4, 16) > 0, 1.0, -1.0)
    adversarial = method("Center").call(CenterAttack(model, eps=0.3, steps=30, step_size=3.0), images, centers)
    assert float((adversarial - images).abs().max()) <= 0.3 + 1e-6
    with torch.no_grad():                               # the relaxed objective h_c^T tanh(f(x)) went down
        before, after = ((centers * torch.tanh(model(x))).sum(1) for x in (images, adversarial))
    assert bool((after < before).all())
    assert CenterAttack(model).settings()["name"] == "Center"


def test_a_run_scores_the_center_attack_by_map(fake_fmnist, tmp_path):
    spec = RunSpec(data=DataSpec(root=str(fake_fmnist), train_per_class=5),
                   model=TrainedModel(bits=16, train=TrainConfig(epochs=1), cache_dir=str(tmp_path / "cache")),
                   methods=("Original", "Center"), attack=AttackSettings(steps=3, n_t=3, batch_size=2, topk=50),
                   queries=3, controls=RunControls(out=str(tmp_path / "run"), progress=False, figures=False))
    record = run(spec)
    center = record["methods"]["Center"]
    assert center["scored_by"] == "map" and len(center["benign_hamming"]) == 3 and "anchor_hamming" not in center
    assert "Center MAP" in record["summary"] and record["summary"]["Center MAP"] == center["map"]
