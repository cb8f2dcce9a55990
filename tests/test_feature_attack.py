"""The feature-based attack, and the exact ε bound of every targeted attack in pixel and normalised space."""

import pytest
import torch

from hashattack.attacks import DHTA, FeatureAttack
from hashattack.errors import InputError
from hashattack.attacks.registry import build_attack
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.spec import DataSpec
from hashattack.models import create_model
from hashattack.models.torchvision_hash import IMAGENET_MEAN, IMAGENET_STD


def rgb_model(bits=16):
    torch.manual_seed(0)
    return create_model("small-cnn", bits, channels=3, size=16, mean=IMAGENET_MEAN, std=IMAGENET_STD).eval()


def feature_distance(model, images, targets):
    with torch.no_grad():
        return (model.features(images) - model.features(targets)).norm(dim=1)


def test_feature_attack_lowers_the_feature_distance_and_matches_one_query_runs():
    model = rgb_model()
    generator = torch.Generator().manual_seed(1)
    images, targets = torch.rand(3, 3, 16, 16, generator=generator), torch.rand(3, 3, 16, 16, generator=generator)
    attack = FeatureAttack(model, eps=0.1, steps=30)
    adversarial = attack(images, targets)
    before, after = feature_distance(model, images, targets), feature_distance(model, adversarial, targets)
    assert (after < 0.8 * before).all()
    single = torch.cat([attack(images[i:i + 1], targets[i:i + 1]) for i in range(3)])
    assert torch.allclose(single, adversarial, atol=1e-6)
    with torch.no_grad():
        goal = model.features(targets)
    assert torch.allclose(attack(images, goal), adversarial, atol=1e-6)   # targets as features
    assert all(p.requires_grad for p in model.parameters())                # weights unfrozen afterwards


def test_feature_attack_in_the_experiment_and_its_errors():
    model = rgb_model()
    attack = build_attack("Feature", model, **AttackSettings(eps=0.05, steps=7).resolved(DataSpec()).attack_options(seed=0))
    assert isinstance(attack, FeatureAttack) and attack.settings()["steps"] == 7
    with pytest.raises(InputError, match="2 targets"):
        attack(torch.rand(3, 3, 16, 16), torch.rand(2, 3, 16, 16))
    with pytest.raises(InputError, match="a `features` method"):
        FeatureAttack(torch.nn.Linear(3, 3))
    with pytest.raises(InputError, match="unknown method"):
        build_attack("Nope", model, **AttackSettings().resolved(DataSpec()).attack_options())


@pytest.mark.parametrize("space, eps", [("normalized", 0.032), ("pixel", 8 / 255)])
@pytest.mark.parametrize("kind", ["DHTA", "Feature"])
def test_perturbation_respects_the_per_channel_bound_exactly(space, eps, kind):
    model = rgb_model()
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 0.8 + 0.1
    if kind == "DHTA":
        adversarial = DHTA(model, eps=eps, eps_space=space, steps=40)(images, -torch.sign(model(images)).detach())
    else:
        adversarial = FeatureAttack(model, eps=eps, eps_space=space, steps=40)(images, images.flip(0))
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    bound = (eps * std if space == "normalized" else eps * torch.ones_like(std)).flatten()
    per_channel = (adversarial - images).abs().amax(dim=(0, 2, 3))
    assert (per_channel <= bound + 1e-6).all()
    assert torch.allclose(per_channel, bound, atol=1e-5)                   # the bound is reached, not shrunk
    if space == "normalized":
        normalized_change = ((adversarial - images) / std).abs().amax().item()
        assert normalized_change == pytest.approx(0.032, abs=1e-5)
