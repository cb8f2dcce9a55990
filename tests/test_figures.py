"""Figures: each plotting function writes a non-blank PNG from plain arrays or run records."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hashattack.reporting import plots as figures
from hashattack.errors import InputError


def _ink(path) -> float:
    """Fraction of pixels that are not (near) white: 0 for a blank picture."""
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return float((grey < 240).mean())


def _record(eps, n_t, bits, dhta, p2p):
    return {"bits": bits, "settings": {"eps": eps, "n_t": n_t},
            "methods": {"Original": {"t_map": 0.1, "map": 0.9}, "P2P": {"t_map": p2p}, "DHTA": {"t_map": dhta}}}


def test_adversarial_examples_and_strips(tmp_path):
    rng = np.random.default_rng(0)
    benign = rng.random((3, 1, 12, 12)).astype(np.float32)
    adversarial = np.clip(benign + rng.uniform(-0.05, 0.05, benign.shape), 0, 1)
    path = figures.plot_adversarial_examples(benign, adversarial, tmp_path / "ex.png", titles=["a", "b", "c"])
    assert Image.open(path).size[0] > 200 and _ink(path) > 0.1
    rgb = rng.random((2, 3, 8, 8))
    rows = [{"query": rgb[0], "title": "q", "retrieved": [rgb[1]] * 10, "relevant": [True] * 5 + [False] * 5},
            {"query": rng.random((4, 3, 8, 8)), "retrieved": [rgb[0]] * 3, "relevant": [False] * 3}]  # a video query
    path = figures.plot_retrieval_strips(rows, tmp_path / "strips.png")
    assert _ink(path) > 0.1
    with pytest.raises(InputError, match="relevance flags"):
        figures.plot_retrieval_strips([{"query": rgb[0], "retrieved": [rgb[1]], "relevant": []}], tmp_path / "x.png")
    with pytest.raises(InputError, match="share a shape"):
        figures.plot_adversarial_examples(benign, adversarial[:2], tmp_path / "x.png")


def test_display_image_shapes():
    assert figures.display_image(np.zeros((1, 5, 6))).shape == (5, 6)
    assert figures.display_image(np.zeros((3, 5, 6))).shape == (5, 6, 3)
    assert figures.display_image(np.zeros((7, 3, 5, 6))).shape == (5, 6, 3)  # video: middle frame
    with pytest.raises(InputError, match="cannot show"):
        figures.display_image(np.zeros((2, 5, 6)))


def test_sweep_and_curve_plots(tmp_path):
    records = [_record(e, 9, 32, d, p) for e, d, p in ((0.05, 0.4, 0.3), (0.1, 0.7, 0.5), (0.2, 0.9, 0.8))]
    records += [_record(e, 9, 16, d - 0.1, p - 0.1) for e, d, p in ((0.05, 0.4, 0.3), (0.1, 0.7, 0.5))]
    path = figures.plot_tmap_sweep(records, "eps", tmp_path / "eps.png")
    assert _ink(path) > 0.02
    with pytest.raises(InputError, match="no setting 'steps'"):
        figures.plot_tmap_sweep(records, "steps", tmp_path / "x.png")
    curves = {"precision_recall": {"DHTA (target label)": {"precision": [1.0, 0.8, None], "recall": [0.1, 0.5, 1.0]}},
              "precision_at_k": {"k": [1, 10, 100], "values": {"Original (true label)": [1.0, 0.9, 0.7]}}}
    assert _ink(figures.plot_precision_recall(curves, tmp_path / "pr.png")) > 0.02
    assert _ink(figures.plot_precision_at_k(curves, tmp_path / "pk.png")) > 0.02
