"""Attacks on hashing models: DHTA, its P2P special case, the feature-based attack, the untargeted attack, and the Noise / Original baselines."""

from hashattack.attacks.base import Attack, frozen
from hashattack.attacks.dhta import DHTA, P2P, alpha_schedule
from hashattack.attacks.feature import FeatureAttack
from hashattack.attacks.noise import Noise, Original
from hashattack.attacks.untargeted import Untargeted

__all__ = ["Attack", "frozen", "DHTA", "P2P", "alpha_schedule", "FeatureAttack", "Noise", "Original", "Untargeted"]
