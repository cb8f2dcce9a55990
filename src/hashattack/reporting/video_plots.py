"""Appendix Fig. 1: benign and adversarial frames of a video query side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from hashattack.errors import InputError
from hashattack.reporting.plots import blank_figure, display_image, plain, save_figure

PAPER_FRAMES = (3, 6, 9, 12, 15, 18, 21)   # frame numbers shown in the paper (counted from 1)


def shown_frames(length: int, frames: Sequence[int] = PAPER_FRAMES) -> list[int]:
    """The requested frame numbers (from 1) that a video of `length` frames has; if none, its
    first and last frames."""
    kept = [f for f in frames if 1 <= f <= length]
    return kept or sorted({1, length})


def frame_comparison(benign: torch.Tensor, adversarial: torch.Tensor, path: str | Path,
                     frames: Sequence[int] = PAPER_FRAMES, length: int | None = None, title: str = "") -> list[int]:
    """Write a PNG: row 1 the benign frames, row 2 the adversarial ones, row 3 the perturbation
    (amplified to the full grey range). Videos are (T, C, H, W) in [0, 1]; `length` = real frames.
    Returns the frame numbers shown."""
    if benign.shape != adversarial.shape or benign.dim() != 4:
        raise InputError(f"benign and adversarial videos must both be (T, C, H, W), got {tuple(benign.shape)} "
                         f"and {tuple(adversarial.shape)}")
    numbers = shown_frames(length or len(benign), frames)
    delta = (adversarial - benign).float()
    scale = float(delta.abs().max()) or 1.0
    rows = (("benign", benign), ("adversarial", adversarial), ("perturbation", 0.5 + delta / (2 * scale)))
    figure = blank_figure(1.6 * len(numbers) + 0.8, 5.2)
    axes = figure.subplots(3, len(numbers), squeeze=False)
    for r, (name, video) in enumerate(rows):
        for c, number in enumerate(numbers):
            axis = axes[r][c]
            axis.imshow(display_image(video[number - 1].detach().cpu()), cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(f"frame {number}", fontsize=9)
            if c == 0:
                axis.set_ylabel(name, fontsize=9)
    axes[2][0].set_ylabel(f"perturbation\n(x{0.5 / scale:.1f})", fontsize=9)
    if title:
        figure.suptitle(plain(title), fontsize=9)
    figure.tight_layout()
    save_figure(figure, path)
    return numbers


__all__ = ["frame_comparison", "shown_frames", "PAPER_FRAMES"]
