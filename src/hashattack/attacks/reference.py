"""DHTA as the official code runs it: one query at a time, `.backward()` with weights requiring grad.

Kept as the reference the batched `DHTA` is checked against (tests) and timed against
(benchmarks/attack_throughput.py). It computes weight gradients it never uses and does Python
work per query, which is what the batched attack avoids; the arithmetic of a step is the same.
"""

from __future__ import annotations

import torch

from hashattack.attacks.base import normalization
from hashattack.attacks.dhta import DHTA, alpha_schedule


def one_query_at_a_time(attack: DHTA, images: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Adversarial pixels (B, ...) for `images` (B, ...) and anchor codes (B, K), query by query.

    Uses the attack's model, ε, steps and step length; the model is left in eval mode with its
    weights' requires_grad as they were (True for a freshly built model, as in the official code).
    """
    model = attack.model
    model.eval()
    out = []
    images = images.to(attack.working_dtype(images))
    for image, anchor in zip(images, anchors.to(images.device, images.dtype)):
        x = image.unsqueeze(0)
        _, std = normalization(model, x)
        eps = attack.eps_pixel(x) / std
        lower, upper = (0 - x) / std, (1 - x) / std
        step = attack.step_length(x)
        delta = torch.zeros_like(x, requires_grad=True)
        for t in range(attack.steps):
            alpha = alpha_schedule(t, attack.steps)
            model.zero_grad()
            loss = -(anchor * torch.tanh(alpha * model(x + delta * std))).sum() / anchor.numel()
            loss.backward()
            grad = delta.grad.detach()
            with torch.no_grad():
                new = delta - step * grad / grad.norm().clamp_min(1e-12)
                new = torch.maximum(torch.minimum(new, upper), lower)
                new = torch.maximum(torch.minimum(new, eps), -eps)
            delta = new.detach().requires_grad_(True)
        out.append((x + delta.detach() * std).clamp(0, 1))
    return torch.cat(out)
