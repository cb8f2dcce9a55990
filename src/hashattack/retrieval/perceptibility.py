"""How visible a perturbation is: ℓ∞, ℓ2, PSNR and SSIM between benign and adversarial pixels.

SSIM is the structural similarity of Wang et al. (IEEE TIP 2004) with its standard settings: an
11x11 Gaussian window of σ = 1.5 (normalised to sum 1), K1 = 0.01, K2 = 0.03, data range 1,
population (not sample) statistics, the map averaged over the window positions that lie wholly
inside the image ("valid", as the reference MATLAB code and skimage's `structural_similarity`
with `gaussian_weights=True, use_sample_covariance=False, data_range=1`), computed per channel
and averaged over the channels (and the frames of a video). An image smaller than 11 pixels on a
side gets the largest odd window that fits. The last two axes of an input are its height and
width; a 1-D or 2-D input (B,) / (B, D) is read as B images of 1 x D pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.retrieval.codes import Array, _as_tensor

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The 1-D Gaussian of `size` taps (odd) and width `sigma`, float64, summing to 1."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-offsets.square() / (2 * sigma ** 2))
    return weights / weights.sum()


def ssim(benign: torch.Tensor, adversarial: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM of each pair (B,), float64: per channel (and frame), then averaged. Inputs (B, ..., H, W)."""
    x, y = benign.to(torch.float64), adversarial.to(device=benign.device, dtype=torch.float64)
    if x.ndim < 3:   # (B,) or (B, D): B images of 1 x D pixels
        x, y = x.reshape(x.shape[0], 1, -1), y.reshape(y.shape[0], 1, -1)
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    x, y = x.reshape(-1, 1, height, width), y.reshape(-1, 1, height, width)
    size = min(SSIM_WINDOW, height, width)
    size -= 1 - size % 2
    g = gaussian_window(size).to(x.device)
    blur = lambda t: torch.nn.functional.conv2d(torch.nn.functional.conv2d(t, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.square()
    var_y = blur(y * y) - mu_y.square()
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return value.reshape(batch, -1).mean(dim=1)


def perceptibility(benign: Array, adversarial: Array) -> dict[str, np.ndarray]:
    """Size of adversarial perturbations in pixel space.

    Args:
        benign, adversarial: images (or videos) of the same shape (B, ...), values in [0, 1].
    Returns:
        dict of float64 numpy arrays (B,): "linf" (max |δ|), "l2" (Euclidean norm of δ),
        "psnr" (10·log10(1 / MSE) in dB, inf for identical inputs) and "ssim" (see the module
        docstring; 1 for identical inputs).
    """
    x, y = _as_tensor(benign), _as_tensor(adversarial)
    if x.shape != y.shape or x.ndim < 1 or x.shape[0] < 1:
        raise InputError(
            f"benign and adversarial must have the same shape (B, ...) with B >= 1, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    x, y = x.to(torch.float64), y.to(device=x.device, dtype=torch.float64)
    for t, name in ((x, "benign"), (y, "adversarial")):
        bad = ~((t >= 0) & (t <= 1))  # also catches NaN
        if bool(bad.any()):
            raise InputError(f"{name} pixels must lie in [0, 1], got {t[bad][0].item()}")
    delta = (y - x).reshape(x.shape[0], -1)
    mse = delta.square().mean(dim=1)
    out = {
        "linf": delta.abs().amax(dim=1),
        "l2": delta.norm(dim=1),
        "psnr": 10 * torch.log10(1 / mse),
        "ssim": ssim(x, y),
    }
    return {name: v.cpu().numpy() for name, v in out.items()}


def summarize_perceptibility(values: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean and median of each perceptibility array.

    Args:
        values: output of `perceptibility` (name -> (B,) array).
    Returns:
        flat dict "<name>_mean" and "<name>_median" -> float (a PSNR mean is inf when any
        pair is identical; the median is robust to that).
    """
    summary = {}
    for name, v in values.items():
        summary[f"{name}_mean"] = float(np.mean(v))
        summary[f"{name}_median"] = float(np.median(v))
    return summary


__all__ = ["perceptibility", "summarize_perceptibility", "ssim", "gaussian_window"]
