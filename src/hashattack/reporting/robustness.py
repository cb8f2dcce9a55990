"""Robustness of hashing models side by side: benign MAP, MAP under the untargeted attack and t-MAP
under the targeted attacks, against ε, one block of rows per model.

Each model's numbers come from its own run folder (one run, or a sweep over ε; see
`reporting.run_records`), all on the same queries and targets when the runs share their seed.
A method scored by MAP (`"scored_by": "map"` in results.json: the benign query, the untargeted
attack) gives its MAP row, the others their t-MAP row. `write_robustness` writes

- `robustness.md` / `robustness.csv`: Model | Metric | one column per ε, in percent (each metric
  followed by its row under the other zero-relevance convention, "DHTA t-MAP (drop)"), and a table
  of the models (how each was trained, its training time);
- `robustness.json`: the same numbers as fractions;
- `figures/robustness.png`: one panel per metric, one line per model against ε.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hashattack.errors import InputError
from hashattack.files import atomic_write_json, atomic_write_text
from hashattack.reporting.plots import blank_figure, plain, save_figure
from hashattack.reporting.run_records import Runs, load_runs, method_order
from hashattack.run_format import FIGURE_DIR, ROBUSTNESS_FILE, TIMING_FILE
from hashattack.validation import read_json
from hashattack.reporting.tables import (CONVENTION_MEANING, OTHER_CONVENTION, by_convention, column_label, csv_text,
                                         main_convention, markdown, percent)

MODEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def robustness_metrics(record: dict) -> dict[str, float | None]:
    """A run's robustness numbers, fractions: "<Method> MAP" for the methods scored by MAP (the benign MAP,
    the MAP under the untargeted attack) first, then "<Method> t-MAP" of the targeted ones; each followed,
    where the record allows it, by its value under the other zero-relevance convention ("DHTA t-MAP (drop)")."""
    methods = record["methods"]
    order = method_order([record])
    by_map = [m for m in order if methods[m].get("scored_by", "map" if m == "Original" else "t_map") == "map"]
    other = OTHER_CONVENTION[main_convention(record)]
    metrics: dict[str, float | None] = {}
    for method, metric, key in ([(m, "map", "MAP") for m in by_map] + [(m, "t_map", "t-MAP") for m in order if m not in by_map]):
        metrics[f"{method} {key}"] = methods[method].get(metric)
        value = by_convention(methods[method], metric, other)
        if value is not None:
            metrics[f"{method} {key} ({other})"] = value
    return metrics


def is_other_convention(metric: str) -> bool:
    """Whether a metric's name marks the other zero-relevance convention's value ("DHTA t-MAP (drop)")."""
    return metric.endswith(tuple(f" ({c})" for c in OTHER_CONVENTION))


def model_points(runs: Runs) -> dict[float, dict]:
    """ε -> the run's robustness numbers, for every run of a model's folder (sorted by ε)."""
    points = {}
    for run in runs.runs:
        eps = float(run.record["settings"]["eps"])
        if eps in points:
            raise InputError(f"{runs.root}: two runs at eps = {eps:g}; a model's folder holds one run per eps")
        points[eps] = robustness_metrics(run.record)
    return dict(sorted(points.items()))


def model_summary(label: str, runs: Runs) -> dict:
    """How a model was trained and attacked: training, adversarial settings, training time, steps, queries."""
    record = runs.runs[0].record
    model = record.get("model", {})
    adversarial = model.get("adversarial")
    seconds = _train_seconds(runs.runs[0].folder)
    training = ("standard" if not adversarial else
                f"adversarial {adversarial['method']} (eps {adversarial['eps']:g} {adversarial['eps_space']}, "
                f"{adversarial['steps']} steps of {adversarial['step_size']:g}, mix {adversarial['mix']:g})")
    epochs = model.get("train", {}).get("epochs")
    return {"model": label, "folder": str(runs.root), "training": training, "epochs": epochs,
            "train_seconds": seconds, "adversarial": adversarial, "bits": record.get("bits"),
            "steps": sorted({r.record["settings"]["steps"] for r in runs.runs}), "num_queries": record.get("num_queries"),
            "eps_space": record["settings"].get("eps_space"),
            "zero_relevance": main_convention(record)}


def _train_seconds(folder: Path) -> float | None:
    try:
        return read_json(Path(folder) / TIMING_FILE, "timing file").get("train_seconds")
    except (InputError, AttributeError):
        return None


def robustness_table(models: dict[str, dict[float, dict]]) -> tuple[list[str], list[list[str]]]:
    """Model | Metric | a column per ε (every ε any model has), in percent; empty where a model lacks it."""
    eps_values = sorted({eps for points in models.values() for eps in points})
    header = ["Model", "Metric", *(column_label("eps", eps) for eps in eps_values)]
    body = []
    for label, points in models.items():
        metrics = list(dict.fromkeys(m for row in points.values() for m in row))
        body += [[label, metric, *(percent(points.get(eps, {}).get(metric)) for eps in eps_values)]
                 for metric in metrics]
    return header, body


def robustness_figure(models: dict[str, dict[float, dict]]):
    """One panel per metric (benign MAP, MAP under the untargeted attack, t-MAP of each targeted attack),
    ε on the x axis, one line per model. Returns the matplotlib Figure."""
    metrics = list(dict.fromkeys(m for points in models.values() for row in points.values() for m in row
                                 if not is_other_convention(m)))
    if not metrics:
        raise InputError("no results to draw")
    fig = blank_figure(3.2 * len(metrics) + 0.4, 3.3)
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    for ax, metric in zip(axes, metrics):
        for i, (label, points) in enumerate(models.items()):
            xs = list(points)
            ys = [100 * v if (v := points[eps].get(metric)) is not None else np.nan for eps in xs]
            ax.plot(xs, ys, marker="o", color=MODEL_COLORS[i % len(MODEL_COLORS)], label=plain(label))
        ax.set_title(plain(metric), fontsize=9)
        ax.set_xlabel("ε")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("%")
    axes[0].legend(fontsize=7, loc="best")
    return fig


def models_table(summaries: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["Model", "Training", "Epochs", "Training time (s)", "Attack steps", "Queries", "Folder"]
    body = [[s["model"], s["training"], str(s["epochs"] or ""), "" if s["train_seconds"] is None else
             f"{s['train_seconds']:.0f}", ", ".join(map(str, s["steps"])), str(s["num_queries"]), s["folder"]]
            for s in summaries]
    return header, body


def write_robustness(out: str | Path, folders: dict[str, str | Path]) -> dict:
    """robustness.md / .csv / .json and figures/robustness.png in `out` for the models' run folders
    ({label: folder}). Returns {"table": Markdown text, "models": per-model summaries, "points": numbers}."""
    if not folders:
        raise InputError("no models to compare: give at least one run folder")
    out = Path(out)
    loaded = {label: load_runs(folder) for label, folder in folders.items()}
    models = {label: model_points(runs) for label, runs in loaded.items()}
    summaries = [model_summary(label, runs) for label, runs in loaded.items()]
    header, body = robustness_table(models)
    spaces = sorted({s["eps_space"] for s in summaries if s["eps_space"]})
    caption = (f"Robustness (%) against ε ({' / '.join(spaces)} space): benign MAP and MAP under the untargeted "
               f"attack (against the queries' own labels), t-MAP of the targeted attacks (against the target labels); "
               f"queries with no relevant item in the top R: "
               f"{' / '.join(sorted({s['zero_relevance'] for s in summaries}))} (zero: AP 0; drop: left out, as the "
               f"official code)"
               + "".join(f"; rows marked ({other}): {CONVENTION_MEANING[other]}" for other in
                         sorted({OTHER_CONVENTION[s['zero_relevance']] for s in summaries})) + ".")
    table = markdown(header, body)
    model_header, model_body = models_table(summaries)
    atomic_write_text(out / "robustness.md", f"{caption}\n\n{table}\nModels:\n\n{markdown(model_header, model_body)}")
    atomic_write_text(out / "robustness.csv", csv_text(header, body))
    points = {label: {f"{eps:g}": row for eps, row in pts.items()} for label, pts in models.items()}
    atomic_write_json(out / ROBUSTNESS_FILE, {"caption": caption, "models": summaries, "points": points})
    save_figure(robustness_figure(models), out / FIGURE_DIR / "robustness.png")
    return {"table": table, "caption": caption, "models": summaries, "points": points}


__all__ = ["write_robustness", "robustness_table", "robustness_figure", "robustness_metrics", "model_points",
           "model_summary", "models_table"]
