"""DHTA's optimiser facts (α schedule, step rule, projections), batching, ε spaces and baselines."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hashattack.attacks import DHTA, P2P, Noise, Original, alpha_schedule
from hashattack.errors import InputError
from hashattack.models import create_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return create_model("small-cnn", 16).eval()


def test_alpha_schedule_matches_the_official_code_at_2000_steps():
    expected = [0.1] * 1000 + [0.2] * 200 + [0.3] * 200 + [0.5] * 200 + [0.7] * 200 + [1.0] * 200
    assert [alpha_schedule(t, 2000) for t in range(2000)] == expected


def test_alpha_schedule_keeps_its_shape_as_fractions_of_the_steps():
    assert [alpha_schedule(t, 10) for t in range(10)] == [0.1] * 5 + [0.2, 0.3, 0.5, 0.7, 1.0]
    assert [alpha_schedule(t, 20) for t in range(20)].count(0.1) == 10


def test_step_length_rule():
    attack = DHTA(nn.Identity(), eps=0.1, steps=1)
    assert attack.step_length(torch.zeros(1, 3, 224, 224)) == pytest.approx(1.0)
    assert attack.step_length(torch.zeros(1, 1, 28, 28)) == pytest.approx(math.sqrt(784 / 150528))
    assert DHTA(nn.Identity(), steps=1, scale_step=False).step_length(torch.zeros(1, 1, 28, 28)) == 1.0


def test_one_step_is_the_normalised_gradient_step_of_each_query(model):
    torch.manual_seed(1)
    images = 0.25 + 0.5 * torch.rand(3, 1, 28, 28)      # away from 0/1: no pixel clipping
    anchors = torch.where(torch.randn(3, 16) > 0, 1.0, -1.0)
    attack = DHTA(model, eps=1.0, steps=1, scale_step=False, step_size=0.05)
    adversarial = attack(images, anchors)
    std = model.std
    delta = torch.zeros_like(images, requires_grad=True)
    loss = -(anchors * torch.tanh(0.1 * model(images + delta * std))).sum() / 16
    (grad,) = torch.autograd.grad(loss, delta)
    expected = images - 0.05 * grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * std
    torch.testing.assert_close(adversarial, expected, atol=1e-6, rtol=0)
    moved = ((adversarial - images) / std).flatten(1).norm(dim=1)
    torch.testing.assert_close(moved, torch.full((3,), 0.05), atol=1e-5, rtol=0)


def test_batched_attack_equals_one_query_at_a_time(model):
    torch.manual_seed(2)
    images = torch.rand(5, 1, 28, 28)
    anchors = torch.where(torch.randn(5, 16) > 0, 1.0, -1.0)
    attack = DHTA(model, eps=0.1, steps=25)
    batched = attack(images, anchors)
    single = torch.cat([attack(images[i:i + 1], anchors[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)
    assert torch.equal(model.encode(batched), model.encode(single))


@pytest.mark.parametrize("space", ["pixel", "normalized"])
def test_perturbation_respects_the_per_channel_bound_in_each_space(space):
    torch.manual_seed(3)
    rgb = create_model("small-cnn", 8, channels=3, size=16, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    images = torch.rand(4, 3, 16, 16)
    anchors = torch.where(torch.randn(4, 8) > 0, 1.0, -1.0)
    eps = 0.032 if space == "normalized" else 8 / 255
    adversarial = DHTA(rgb, eps=eps, eps_space=space, steps=30, step_size=50.0)(images, anchors)
    bound = eps * rgb.std.view(1, 3, 1, 1) if space == "normalized" else torch.full((1, 3, 1, 1), eps)
    delta = (adversarial - images).abs().amax(dim=(0, 2, 3))
    assert torch.all(delta <= bound.flatten() + 1e-6)
    assert torch.all(delta >= 0.9 * bound.flatten())          # the bound is reached, per channel
    assert adversarial.min() >= 0 and adversarial.max() <= 1


def test_attack_moves_codes_towards_the_anchor_and_leaves_weights_untouched(model):
    torch.manual_seed(4)
    images = torch.rand(6, 1, 28, 28)
    anchors = -model.encode(images)                          # the farthest possible anchor
    flags = [p.requires_grad for p in model.parameters()]
    adversarial = DHTA(model, eps=0.3, steps=60)(images, anchors)
    after = ((16 - (model.encode(adversarial) * anchors).sum(1)) / 2)
    assert after.mean() < 16 / 2
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_target_codes_are_voted_into_anchors(model):
    images = torch.rand(2, 1, 28, 28)
    targets = torch.where(torch.randn(2, 3, 16) > 0, 1.0, -1.0)
    from hashattack.retrieval.codes import anchor_code
    attack = DHTA(model, eps=0.1, steps=3)
    torch.testing.assert_close(attack(images, targets), attack(images, anchor_code(targets)))


def test_p2p_is_dhta_with_one_object(model):
    images = torch.rand(2, 1, 28, 28)
    anchors = torch.where(torch.randn(2, 16) > 0, 1.0, -1.0)
    assert P2P(model, eps=0.1, steps=4).n_t == 1
    torch.testing.assert_close(P2P(model, eps=0.1, steps=4)(images, anchors),
                               DHTA(model, eps=0.1, steps=4, n_t=1)(images, anchors))


def test_noise_is_bounded_clipped_and_per_query(model):
    images = torch.rand(4, 1, 28, 28)
    noise = Noise(model, eps=0.05, seed=7)
    noisy = noise(images, ids=[10, 11, 12, 13])
    assert (noisy - images).abs().max() <= 0.05 + 1e-7
    assert noisy.min() >= 0 and noisy.max() <= 1
    torch.testing.assert_close(noise(images[2:3], ids=[12]), noisy[2:3])
    assert not torch.equal(noisy, images)


def test_original_returns_the_query():
    images = torch.rand(2, 1, 28, 28)
    assert torch.equal(Original()(images), images)


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": 0}, "eps must be positive"),
    ({"eps": -0.1}, "eps must be positive"),
    ({"eps": 2.0}, "at most 1"),
    ({"eps": 0.1, "steps": 0}, "steps must be a positive integer"),
    ({"eps": 0.1, "eps_space": "l2"}, "unknown eps space"),
])
def test_bad_hyper_parameters_are_refused(model, kwargs, message):
    with pytest.raises(InputError, match=message):
        DHTA(model, **kwargs)


def test_inputs_outside_pixel_range_are_refused(model):
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        DHTA(model, eps=0.1, steps=1)(torch.full((1, 1, 28, 28), 2.0), torch.ones(1, 16))
