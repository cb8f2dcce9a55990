"""Feature-based targeted attack (Inkawhich et al., "Feature Space Perturbations Yield More
Transferable Adversarial Examples", CVPR 2019), as the baseline of DHTA's appendix Table 3.

Distance: ℓ∞, ‖x' - x‖∞ <= ε (per channel; pixel or normalised space, see `attacks.base`).
Objective: minimise Σ_b ‖φ(x_b + δ_b) - φ(t_b)‖₂, where φ is the model's `features` (the layer just
before the hash layer) and t_b one object of the target label (the experiment protocol uses the
manifest's n_t = 1 object, the one P2P steers towards, so the two attacks share their targets).
Optimiser: exactly DHTA's (`attacks.descent`): δ from 0, per-query unit-ℓ2 steps scaled by
sqrt(D/150528), projection onto valid pixels and the ε ball, the same number of steps. With
per-query normalised steps the distance and its square give the same iterates.

Arguments: model (needs `features(pixels) -> (B, F)`), eps (`attacks.base.DEFAULT_EPS`, 8/255), eps_space ("pixel"),
steps (2000), step_size (1.0), scale_step (True).

Example::

    attack = FeatureAttack(model, eps=0.1, steps=2000)
    adversarial = attack(images, target_images)   # (B, C, H, W), (B, C, H, W) or (B, F) -> (B, C, H, W)
"""

from __future__ import annotations

import torch

from hashattack.attacks.base import Attack, DEFAULT_EPS, check_flags, check_step_size
from hashattack.attacks.descent import normalized_descent, step_length
from hashattack.models.batch_invariance import model_rows, row_norms
from hashattack.errors import InputError
from hashattack.retrieval.codes import positive_int
from hashattack.validation import pixel_problem


class FeatureAttack(Attack):
    """Pull the feature before the hash layer towards that of one target object."""

    name = "Feature"

    def __init__(self, model, eps: float | torch.Tensor = DEFAULT_EPS, eps_space: str = "pixel", steps: int = 2000,
                 step_size: float = 1.0, scale_step: bool = True):
        super().__init__(model, eps, eps_space)
        if not callable(getattr(model, "features", None)):
            raise InputError(f"the feature-based attack needs a model with a `features` method, got {type(model).__name__}")
        check_flags(scale_step=scale_step)
        steps, step_size = positive_int(steps, "steps"), check_step_size(step_size)
        self.steps, self.step_size, self.scale_step = steps, step_size, scale_step

    def target_features(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Targets given as pixels shaped like `images` -> their features; (B, F) features pass through."""
        if not isinstance(targets, torch.Tensor):
            raise InputError(f"targets must be a tensor of target objects' pixels or features, got {type(targets).__name__}")
        if targets.shape[0] != images.shape[0]:
            raise InputError(f"{images.shape[0]} images but {targets.shape[0]} targets")
        targets = targets.to(images.device, images.dtype)
        if targets.shape == images.shape:
            if pixel_problem(targets) is not None:
                raise InputError("the target objects must be pixels in [0, 1] (shaped like the queries)")
            with torch.no_grad():
                targets = model_rows(self.checked(self.model.features), targets)[:len(targets)]
        elif targets.dim() != 2:
            raise InputError(f"targets must be images shaped like the queries {tuple(images.shape)} or features (B, F), "
                             f"got {tuple(targets.shape)} (labels?)")
        if not bool(torch.isfinite(targets).all()):
            raise InputError("the target features hold NaN or inf (a model with NaN weights?); they must be finite")
        return targets

    def forward(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """images (B, C, ...) in [0, 1]; targets: target objects' pixels (same shape) or features (B, F)."""
        images = images.to(self.working_dtype(images))   # the model's dtype (see attacks.dhta)
        goal = self.target_features(images, targets)

        def loss_of(adversarial: torch.Tensor, t: int, active: torch.Tensor) -> torch.Tensor:
            features = self.model.features if t else self.checked(self.model.features)
            features = model_rows(features, adversarial)[:len(adversarial)]   # see models.batch_invariance
            if t == 0:
                self.check_outputs(features, goal.shape[1], "feature width")
            return row_norms(features - goal[active]).sum()

        _, std = self.normalization(images)
        step = step_length(images, self.step_size, self.scale_step)
        adversarial, _ = normalized_descent(images, loss_of, self.steps, step, self.eps_pixel(images), std,
                                            progress=f"{self.name} steps" if self.progress else None)
        return adversarial

    def settings(self) -> dict:
        return {**super().settings(), "steps": self.steps, "step_size": self.step_size, "scale_step": self.scale_step,
                "step_length_rule": "step_size*sqrt(D/150528)" if self.scale_step else "step_size",
                "feature": "layer before the hash layer (model.features)"}
