"""HashNet's weighted pairwise log-likelihood with β continuation, against a hand computation."""

import math

import pytest
import torch

from hashattack.data.base import LabeledSet, one_hot
from hashattack.training.losses import LOSSES, hashnet_beta, hashnet_loss
from hashattack.training.loop import TrainConfig, train_model


def hand_loss(z, same, beta, alpha):
    """Σ w ℓ / Σ w with w = |S|/|S1| (similar) or |S|/|S0|, over all ordered pairs (i, j), in plain Python."""
    u = [[math.tanh(beta * v) for v in row] for row in z]
    terms = {True: [], False: []}
    for i in range(len(z)):
        for j in range(len(z)):
            a = alpha * sum(x * y for x, y in zip(u[i], u[j]))
            s = 1.0 if same[i][j] else 0.0
            terms[bool(same[i][j])].append(math.log(1 + math.exp(a)) - s * a)
    total = len(z) ** 2
    w1, w0 = total / len(terms[True]), total / len(terms[False])
    return (w1 * sum(terms[True]) + w0 * sum(terms[False])) / (w1 * len(terms[True]) + w0 * len(terms[False]))


def test_beta_continuation_schedule():
    assert hashnet_beta(0) == 1.0 and hashnet_beta(199) == 1.0
    assert hashnet_beta(200) == pytest.approx(math.sqrt(2.0))          # (1 + 0.005 * 200) ** 0.5
    assert hashnet_beta(450) == pytest.approx(math.sqrt(3.0))          # raised at 400, held until 600
    assert hashnet_beta(10, gamma=0.1, power=1.0, step=5) == pytest.approx(2.0)


@pytest.mark.parametrize("iteration", [0, 450])
def test_loss_matches_hand_computation(iteration):
    z = [[0.8, -0.3, 1.5, -2.0], [0.1, 0.4, -0.7, 0.9], [-1.2, 0.6, 0.2, 0.3]]
    labels = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1]])      # 0~1 share a label; 2 shares none
    same = [[bool((labels[i] * labels[j]).sum()) for j in range(3)] for i in range(3)]
    got = hashnet_loss(torch.tensor(z), labels, iteration=iteration)
    expected = hand_loss(z, same, hashnet_beta(iteration), alpha=10 / 4)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert hashnet_loss(torch.tensor(z), labels, alpha=1.0).item() == pytest.approx(hand_loss(z, same, 1.0, 1.0), rel=1e-6)


def test_loss_is_finite_for_large_inner_products_and_has_gradients():
    z = torch.full((2, 64), 50.0, requires_grad=True)             # a = 10 * 1 = 10 per pair, saturated tanh
    loss = hashnet_loss(z, torch.tensor([[1, 0], [0, 1]]), alpha=20.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_training_passes_the_iteration_to_hashnet(monkeypatch):
    seen = []

    def spy(outputs, labels, iteration=0):
        seen.append(iteration)
        return hashnet_loss(outputs, labels, iteration=iteration)

    monkeypatch.setitem(LOSSES, "spy", spy)
    data = LabeledSet(torch.randint(0, 255, (12, 1, 28, 28), dtype=torch.uint8), one_hot(torch.arange(12) % 3, 3),
                      torch.arange(12))
    from hashattack.models import create_model

    history = train_model(create_model("small-cnn", 8), data, TrainConfig(epochs=2, batch_size=4, loss="spy"),
                          progress=False)
    assert seen == list(range(6)) and len(history) == 2
    assert "hashnet" in LOSSES and TrainConfig(loss="hashnet").loss == "hashnet"
