"""The untargeted attack (Yang et al., IEEE T-Cyb 2018): its objective, batching, registry entry and scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hashattack.attacks import DHTA, Untargeted
from hashattack.attacks.registry import build_attack, method
from hashattack.data.catalog import open_dataset
from hashattack.errors import InputError
from hashattack.models import create_model
from hashattack.reporting.tables import results_table, summary_values
from hashattack.retrieval.codes import binarize, hamming_distance
from hashattack.training.loop import TrainConfig, train_model


@pytest.fixture(scope="module")
def trained(fake_fmnist):
    """A tiny small-cnn trained on the Fashion-MNIST look-alike, and its query pixels."""
    dataset = open_dataset("fashion-mnist", fake_fmnist, train_per_class=12)
    torch.manual_seed(0)
    model = create_model("small-cnn", 16)
    train_model(model, dataset.train, TrainConfig(epochs=3, batch_size=32, lr=0.05), progress=False)
    return model.eval(), dataset.query.pixels(torch.arange(12))


def test_one_step_follows_the_hand_computed_gradient_of_the_objective():
    # f(x) = W x on two "pixels", K = 2; L = (1/K) h_bᵀ tanh(α f(x + δ)), α = 0.1 at the first step
    linear = nn.Linear(2, 2, bias=False)
    weights = np.array([[2.0, -1.0], [0.5, 3.0]])
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weights, dtype=torch.float32))
    model = nn.Sequential(nn.Flatten(), linear)
    x = np.array([0.4, 0.3])
    f = weights @ x                                  # (0.5, 1.1): h_b = (+1, +1)
    h_b = np.sign(f)
    alpha, step = 0.1, 0.01
    gradient = alpha / 2 * (h_b * (1 - np.tanh(alpha * f) ** 2)) @ weights   # ∇x of (1/K) h_bᵀ tanh(α W x)
    expected = x - step * gradient / np.linalg.norm(gradient)
    images = torch.tensor(x, dtype=torch.float32).view(1, 1, 1, 2)
    adversarial = Untargeted(model, eps=0.5, steps=1, step_size=step, scale_step=False)(images)
    np.testing.assert_allclose(adversarial.flatten().numpy(), expected, atol=1e-6)
    # the loss went down: the relaxed inner product with the benign code shrank
    after = (h_b * np.tanh(alpha * weights @ adversarial.flatten().numpy())).sum() / 2
    assert after < (h_b * np.tanh(alpha * f)).sum() / 2


def test_it_is_dhta_towards_the_flipped_benign_code(trained):
    model, images = trained
    codes = binarize(model(images).detach())
    untargeted = Untargeted(model, eps=0.2, steps=10, step_size=200.0)(images)
    towards_flipped = DHTA(model, eps=0.2, steps=10, step_size=200.0)(images, -codes)
    assert torch.equal(untargeted, towards_flipped)
    given = Untargeted(model, eps=0.2, steps=10, step_size=200.0)(images, codes)   # codes given explicitly
    assert torch.equal(given, untargeted)


def test_it_moves_codes_away_from_the_benign_code(trained):
    model, images = trained
    benign = binarize(model(images).detach())
    adversarial = Untargeted(model, eps=0.2, steps=20, step_size=100.0)(images)
    assert (adversarial - images).abs().max() <= 0.2 + 1e-6
    distance = hamming_distance(binarize(model(adversarial)), benign).diagonal()
    assert (distance > 0).float().mean() >= 0.75, distance
    assert distance.float().mean() > 16 / 4, distance      # a quarter of the 16 bits flipped on average


def test_batched_equals_one_query_at_a_time(trained):
    model, images = trained
    attack = Untargeted(model, eps=0.2, steps=15, step_size=100.0)
    batched = attack(images[:5])
    single = torch.cat([attack(images[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)
    assert torch.equal(model.encode(batched), model.encode(single))


def test_registry_builds_it_with_the_shared_settings_and_scores_it_by_map(trained):
    model, _ = trained
    entry = method("Untargeted")
    assert entry.target is None and entry.anchor_objects(9) is None and entry.scored_by == "map"
    attack = build_attack("Untargeted", model, eps=0.1, steps=7, step_size=2.0, n_t=9, seed=3, early_stop=True)
    assert isinstance(attack, Untargeted) and (attack.steps, attack.step_size, attack.early_stop) == (7, 2.0, True)
    assert "n_t" not in attack.settings() and attack.settings()["name"] == "Untargeted"
    with pytest.raises(InputError, match="codes of shape"):
        attack(torch.rand(2, 1, 28, 28), torch.ones(3, 16))


def test_tables_show_the_untargeted_map_only_when_it_ran():
    methods = {"Original": {"t_map": 0.1, "map": 0.8, "scored_by": "map"},
               "Untargeted": {"t_map": 0.12, "map": 0.3, "scored_by": "map"},
               "DHTA": {"t_map": 0.9, "map": 0.05, "scored_by": "t_map"}}
    row = summary_values(methods, list(methods))
    assert row == {"Original t-MAP": 0.1, "Untargeted t-MAP": 0.12, "DHTA t-MAP": 0.9,
                   "Original MAP": 0.8, "Untargeted MAP": 0.3}
    _, body = results_table([("32 bits", row)])
    assert [r[:2] for r in body][-2:] == [["Original", "MAP"], ["Untargeted", "MAP"]]
    old = {"Original": {"t_map": 0.1, "map": 0.8}, "DHTA": {"t_map": 0.9}}   # a record written before scored_by
    assert summary_values(old, list(old)) == {"Original t-MAP": 0.1, "DHTA t-MAP": 0.9, "Original MAP": 0.8}
