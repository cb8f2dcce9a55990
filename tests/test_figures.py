"""Figures: each plotting function writes a non-blank PNG from plain arrays or run records; the t-MAP
sweep draws one line per method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hashattack.errors import InputError
from hashattack.reporting import plots as figures
from hashattack.reporting.video_plots import frame_comparison


def _ink(path) -> float:
    """Fraction of pixels that are not (near) white: 0 for a blank picture."""
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return float((grey < 240).mean())


def _point(bits, eps, dhta, p2p):
    """(coordinates, results record) of one run of a sweep."""
    return {"bits": bits, "eps": eps}, {"bits": bits, "settings": {"eps": eps, "n_t": 9},
                                        "methods": {"Original": {"t_map": 0.1, "map": 0.9}, "P2P": {"t_map": p2p},
                                                    "DHTA": {"t_map": dhta}}}


def _lines(fig) -> dict[str, tuple[list, list]]:
    """label -> (x, y) of every line drawn in the figure's one axes."""
    (ax,) = fig.axes
    return {line.get_label(): (list(line.get_xdata()), [round(float(y), 6) for y in line.get_ydata()])
            for line in ax.get_lines()}


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


def test_bits_sweep_has_one_line_per_method():
    points = [_point(bits, 0.1, d, p) for bits, d, p in ((16, 0.4, 0.3), (32, 0.7, 0.5), (48, 0.8, 0.6), (64, 0.9, 0.7))]
    lines = _lines(figures.tmap_sweep_figure(points[::-1], "bits"))   # the order of the runs does not matter
    assert list(lines) == ["Original t-MAP", "P2P t-MAP", "DHTA t-MAP", "Original MAP"]
    assert lines["DHTA t-MAP"] == ([16, 32, 48, 64], [40.0, 70.0, 80.0, 90.0])
    assert lines["Original MAP"] == ([16, 32, 48, 64], [90.0] * 4)
    reordered = _lines(figures.tmap_sweep_figure(points, "bits", methods=["DHTA", "P2P", "Original"]))
    assert list(reordered) == ["DHTA t-MAP", "P2P t-MAP", "Original t-MAP", "Original MAP"]


def test_a_second_axis_gives_a_line_per_method_and_value():
    points = [_point(bits, eps, eps + bits / 100, eps) for bits in (16, 32) for eps in (0.05, 0.1, 0.2)]
    lines = _lines(figures.tmap_sweep_figure(points, "eps"))
    assert len(lines) == 2 * 4 and lines["DHTA t-MAP (32 bits)"] == ([0.05, 0.1, 0.2], [37.0, 42.0, 52.0])
    with pytest.raises(InputError, match="no value for 'steps'"):
        figures.tmap_sweep_figure(points, "steps")


def test_sweep_and_curve_plots(tmp_path):
    points = [_point(32, e, d, p) for e, d, p in ((0.05, 0.4, 0.3), (0.1, 0.7, 0.5), (0.2, 0.9, 0.8))]
    assert _ink(figures.plot_tmap_sweep(points, "eps", tmp_path / "eps.png")) > 0.02
    curves = {"precision_recall": {"DHTA (target label)": {"precision": [1.0, 0.8, None], "recall": [0.1, 0.5, 1.0]}},
              "precision_at_k": {"k": [1, 10, 100], "values": {"Original (true label)": [1.0, 0.9, 0.7]}}}
    assert _ink(figures.plot_precision_recall(curves, tmp_path / "pr.png")) > 0.02
    assert _ink(figures.plot_precision_at_k(curves, tmp_path / "pk.png")) > 0.02


def test_frame_comparison_of_a_padded_video(tmp_path):
    benign = torch.rand(8, 1, 6, 6)
    adversarial = (benign + 0.02).clamp(0, 1)
    shown = frame_comparison(benign, adversarial, tmp_path / "f.png", length=5, title="padded")
    assert shown == [3] and _ink(tmp_path / "f.png") > 0.05
    with pytest.raises(InputError, match=r"\(T, C, H, W\)"):
        frame_comparison(benign, adversarial[:4], tmp_path / "x.png")
