"""Figures of a run, as PNG files: adversarial examples, retrieval strips, t-MAP curves, PR and P@k.

Every function takes plain arrays or run records and writes one PNG atomically; none needs a
model or a dataset, so other commands (sweeps, video runs, reports) can call them directly.
Matplotlib is used through `matplotlib.figure.Figure` (the Agg canvas, no pyplot, no display).

Images are pixels in [0, 1] shaped (C, H, W) with C = 1 (grey) or 3 (RGB); a video (T, C, H, W)
is shown by its middle frame (`display_image`).

Text that comes from the user (class names, model labels, sweep values, file names) goes through
`plain` before matplotlib draws it: matplotlib reads text between two `$` as mathtext, so a
class folder named `a$\\foo{$b` would otherwise make the figure (and the run's end) fail.
`save_figure` draws with LaTeX off whatever the user's matplotlibrc says.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hashattack.errors import InputError
from hashattack.files import atomic_write_bytes
from hashattack.reporting.tables import column_label

DPI = 100
TICK, CROSS = "\u2713", "\u2717"
MATCH_COLOR, MISS_COLOR = "#1a9641", "#d7191c"
METHOD_STYLE = {"Original": ("#7f7f7f", "o"), "Noise": ("#bcbd22", "v"), "P2P": ("#1f77b4", "s"),
                "DHTA": ("#d62728", "D"), "Feature": ("#9467bd", "^"),
                "Untargeted": ("#ff7f0e", "P")}
AXIS_TITLES = {"eps": "ε", "n_t": "$n_t$", "bits": "code length (bits)", "steps": "attack steps"}


def plain(text) -> str:
    """`text` drawn literally by matplotlib: every `$` escaped, so no part of it is read as mathtext."""
    return str(text).replace("$", r"\$")


def blank_figure(width: float, height: float):
    """An empty Figure of width × height inches (Agg canvas, no pyplot)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def save_figure(fig, path: str | Path) -> Path:
    """Render `fig` as PNG and write it atomically; returns the path."""
    from matplotlib import rc_context
    from matplotlib.text import Text

    for text in fig.findobj(Text):   # a user's matplotlibrc with text.usetex would send names to LaTeX
        text.set_usetex(False)
    buffer = io.BytesIO()
    with rc_context({"text.usetex": False}):
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def display_image(pixels) -> np.ndarray:
    """(C, H, W) or (T, C, H, W) pixels in [0, 1] -> an (H, W) or (H, W, 3) float array for imshow."""
    x = np.asarray(pixels, dtype=np.float32)
    if x.ndim == 4:  # a video: its middle frame
        x = x[x.shape[0] // 2]
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise InputError(f"cannot show an image of shape {x.shape}: expected (C, H, W) with C = 1 or 3")
    x = np.clip(x, 0.0, 1.0)
    return x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))


def _rgb(pixels) -> np.ndarray:
    image = display_image(pixels)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def _mosaic(ax, grid: list[list[dict | None]], title_lines: int = 2, column_gap_after: int | None = None) -> None:
    """Draw a grid of tiles into one axes (one image, far faster than an axes per tile).

    Each cell is None or {"pixels", "title" (optional, above the tile), "color" (optional border)}.
    """
    from matplotlib.colors import to_rgb

    cells = [c for row in grid for c in row if c is not None]
    images = [_rgb(c["pixels"]) for c in cells]
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    b = max(1, round(h / 14))                      # border width
    gap_x, gap_y = max(2, w // 6), round(h * 0.28 * title_lines) + b
    extra = w // 2 if column_gap_after is not None else 0
    cols = max(len(row) for row in grid)
    cell_w, cell_h = w + 2 * b + gap_x, h + 2 * b + gap_y
    canvas = np.ones((len(grid) * cell_h, cols * cell_w + extra, 3), dtype=np.float32)
    for r, row in enumerate(grid):
        for c, cell in enumerate(row):
            if cell is None:
                continue
            x0 = c * cell_w + (extra if column_gap_after is not None and c > column_gap_after else 0)
            y0 = r * cell_h + gap_y
            if cell.get("color"):
                canvas[y0:y0 + h + 2 * b, x0:x0 + w + 2 * b] = to_rgb(cell["color"])
            image = _rgb(cell["pixels"])
            ih, iw = image.shape[:2]
            top, left = y0 + b + (h - ih) // 2, x0 + b + (w - iw) // 2
            canvas[top:top + ih, left:left + iw] = image
            if cell.get("title"):
                ax.text(x0 + b + w / 2, y0 - b, plain(cell["title"]), ha="center", va="bottom", fontsize=7,
                        color=cell.get("color") or "black")
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()


def plot_adversarial_examples(benign, adversarial, path: str | Path, titles: Sequence[str] | None = None) -> Path:
    """Columns of (benign, perturbation amplified to be visible, adversarial), one per example.

    benign, adversarial: (n, C, H, W) (or (n, T, C, H, W)) pixels in [0, 1]. The perturbation
    δ = adversarial − benign is shown as 0.5 + δ / (2·max|δ|), mid-grey meaning 0, and its
    amplification factor and ℓ∞ norm (in 1/255 units) are printed above it.
    """
    benign, adversarial = np.asarray(benign, dtype=np.float32), np.asarray(adversarial, dtype=np.float32)
    if benign.shape != adversarial.shape or benign.ndim < 4 or len(benign) == 0:
        raise InputError(f"benign and adversarial must share a shape (n, C, H, W) with n >= 1, "
                         f"got {benign.shape} and {adversarial.shape}")
    n = len(benign)
    rows = [[], [], []]
    for i in range(n):
        delta = adversarial[i] - benign[i]
        peak = float(np.abs(delta).max())
        gain = 0.5 / peak if peak > 0 else 1.0
        rows[0].append({"pixels": benign[i], "title": (titles[i] if titles else "") + "\nbenign"})
        rows[1].append({"pixels": 0.5 + delta * gain, "title": f"perturbation ×{gain:.1f}\nℓ∞ {255 * peak:.1f}/255"})
        rows[2].append({"pixels": adversarial[i], "title": "adversarial"})
    fig = blank_figure(1.5 * n + 0.3, 5.4)
    _mosaic(fig.add_axes((0, 0, 1, 1)), rows, title_lines=3)
    return save_figure(fig, path)


def plot_retrieval_strips(rows: Sequence[dict], path: str | Path) -> Path:
    """One strip per row: the query, then its top retrieved objects with a tick or a cross.

    Each row is a dict: "query" (pixels), "title" (str, e.g. "DHTA query (target Sneaker)"),
    "retrieved" (list of pixels, best first) and "relevant" (list of bool: does the object carry
    the desired label — the true one for a benign query, the target for an adversarial one).
    """
    if not rows:
        raise InputError("no retrieval strips to draw")
    grid = []
    for r, row in enumerate(rows):
        if len(row["retrieved"]) != len(row["relevant"]):
            raise InputError(f"strip {r}: {len(row['retrieved'])} objects but {len(row['relevant'])} relevance flags")
        cells = [{"pixels": row["query"], "title": row.get("title", "query")}]
        for j, (pixels, ok) in enumerate(zip(row["retrieved"], row["relevant"])):
            cells.append({"pixels": pixels, "title": f"{j + 1} {TICK if ok else CROSS}",
                          "color": MATCH_COLOR if ok else MISS_COLOR})
        grid.append(cells)
    width = max(len(cells) for cells in grid)
    fig = blank_figure(1.0 * width + 0.5, 1.25 * len(grid))
    _mosaic(fig.add_axes((0, 0, 1, 1)), grid, title_lines=2, column_gap_after=0)
    return save_figure(fig, path)


def _style(method: str) -> dict:
    color, marker = METHOD_STYLE.get(method, (None, "o"))
    return {"color": color, "marker": marker, "label": method}


def tmap_sweep_figure(points: Sequence[tuple[dict, dict]], axis: str, methods: Sequence[str] | None = None,
                      xlabel: str | None = None):
    """t-MAP (%) against one swept axis (e.g. "bits", "eps", "n_t"): one line per method.

    points: (coordinates, record) of each run of the sweep. coordinates ({axis: value}) place
    the run in the sweep; record is its results.json dict, whose "methods" maps each method to
    {"t_map", and "map" for Original}. `methods`: their order (default: as they first appear). Runs that
    also differ along another axis get a line per method for each of its values (labelled).
    Original's benign MAP and the MAP under the untargeted attack are drawn dashed when present.
    Returns the matplotlib Figure.
    """
    if not points:
        raise InputError(f"no runs to plot t-MAP against {axis}")
    for coordinates, _ in points:
        if axis not in coordinates:
            raise InputError(f"a run has no value for {axis!r} (it has: {', '.join(sorted(coordinates)) or 'none'})")
    methods = list(methods or dict.fromkeys(m for _, record in points for m in record["methods"]))
    names = dict.fromkeys(a for coordinates, _ in points for a in coordinates if a != axis)
    others = [a for a in names if len({repr(c.get(a)) for c, _ in points}) > 1]
    groups: dict[tuple, list] = {}
    for coordinates, record in points:
        groups.setdefault(tuple(coordinates.get(a) for a in others), []).append((coordinates[axis], record))
    values = list(dict.fromkeys(c[axis] for c, _ in points))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    position = {v: (v if numeric else i) for i, v in enumerate(values)}
    fig = blank_figure(5.2, 3.6)
    ax = fig.subplots()
    for g, (key, group) in enumerate(groups.items()):
        group.sort(key=lambda point: position[point[0]])
        xs = [position[v] for v, _ in group]
        suffix = f" ({column_label(others, key)})" if others else ""
        line = ("-", ":", "-.")[g % 3]
        for method in methods:
            ys = [100 * r["methods"][method]["t_map"] if method in r["methods"] else np.nan for _, r in group]
            ax.plot(xs, ys, **{**_style(method), "label": plain(f"{method} t-MAP{suffix}"), "linestyle": line})
        for method, color in (("Original", "#444444"), ("Untargeted", METHOD_STYLE["Untargeted"][0])):
            if method == "Untargeted" and method not in methods:
                continue
            maps = [100 * r["methods"].get(method, {}).get("map", np.nan) for _, r in group]
            if not np.isnan(maps).all():
                ax.plot(xs, maps, linestyle="--", color=color, marker="x", label=plain(f"{method} MAP{suffix}"))
    if not numeric or len(values) <= 12:
        ax.set_xticks([position[v] for v in values], [f"{v:g}" if numeric else plain(v) for v in values])
    ax.set_xlabel(xlabel or AXIS_TITLES.get(axis) or plain(axis))
    ax.set_ylabel("%")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def plot_tmap_sweep(points: Sequence[tuple[dict, dict]], axis: str, path: str | Path,
                    methods: Sequence[str] | None = None, xlabel: str | None = None) -> Path:
    """`tmap_sweep_figure` written as a PNG at `path`."""
    return save_figure(tmap_sweep_figure(points, axis, methods, xlabel), path)


def plot_precision_recall(curves: dict, path: str | Path) -> Path:
    """Precision–recall curves of Hamming-radius retrieval, one per method (see `curves.json`).

    curves: {"precision_recall": {name: {"precision": [...], "recall": [...]}}} with one value
    per radius 0..K (NaN/None where undefined).
    """
    fig = blank_figure(4.6, 3.6)
    ax = fig.subplots()
    for name, curve in curves["precision_recall"].items():
        p = np.array([np.nan if v is None else v for v in curve["precision"]], dtype=float)
        r = np.array([np.nan if v is None else v for v in curve["recall"]], dtype=float)
        keep = ~(np.isnan(p) | np.isnan(r))
        method = name.split(" ")[0]
        ax.plot(r[keep], p[keep], **{**_style(method), "label": plain(name), "markersize": 3,
                                     "linestyle": "--" if "true label" in name else "-"})
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)


def plot_precision_at_k(curves: dict, path: str | Path) -> Path:
    """Precision@k against k (log scale), one line per method (see `curves.json`)."""
    fig = blank_figure(4.6, 3.6)
    ax = fig.subplots()
    ks = curves["precision_at_k"]["k"]
    for name, values in curves["precision_at_k"]["values"].items():
        method = name.split(" ")[0]
        ax.plot(ks, values, **{**_style(method), "label": plain(name), "markersize": 3,
                               "linestyle": "--" if "true label" in name else "-"})
    ax.set_xscale("log")
    ax.set_xlabel("k (top-k retrieved)")
    ax.set_ylabel("precision@k")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)


__all__ = ["plot_adversarial_examples", "plot_retrieval_strips", "plot_tmap_sweep", "tmap_sweep_figure", "blank_figure", "plot_precision_recall",
           "plot_precision_at_k", "display_image", "save_figure", "plain"]
