"""`report.html` and `report.md` of a run folder: tables, figures, settings and conventions.

A run folder holds one run or a sweep of runs (see `hashattack.reporting.run_records`). The
report of one run shows its table, each method's success and perceptibility, its figures and
its settings. The report of a sweep shows the sweep's table (its table.md, else one built from
the runs), t-MAP against each swept axis (`figures/tmap_vs_<axis>.png`, one line per method),
then each run's section with its figures; each run's own report is written as well.

- `report.md`: Markdown with tables and relative links to the PNG files;
- `report.html`: one self-contained page (see `hashattack.reporting.page`).

Files read into the report are bounded (a sweep's table file `MAX_TABLE_BYTES`, timing.json and a
manifest `MAX_SIDE_FILE_BYTES`); a temporary file a killed report left is deleted on the next one.
"""

from __future__ import annotations

import json
from pathlib import Path

from hashattack.errors import InputError
from hashattack.files import remove_stale_temporaries
from hashattack.reporting.export_tables import export_scores_table, export_sources_table
from hashattack.reporting.page import Page, inside_regular_file
from hashattack.reporting.plots import plot_tmap_sweep
from hashattack.reporting.run_records import Run, Runs, load_runs, method_order, summary_row
from hashattack.run_format import FIGURE_DIR, MANIFEST_FILE, REPORT_HTML, TIMING_FILE
from hashattack.validation import read_json, read_text
from hashattack.reporting.tables import (OTHER_CONVENTION, by_convention, column_label, convention_caption, main_convention,
                                         parse_markdown, percent, results_table)

FIGURE_CAPTIONS = {
    "adversarial_examples.png": "Benign queries, their perturbations (amplified to be visible) and the adversarial "
                                "queries; each column's title names the target label.",
    "frames.png": "Frames of the first query: benign, adversarial, and the perturbation (amplified to be visible).",
    "retrieval.png": "Top-10 retrieved objects: a tick when the object carries the desired label (the true label for "
                     "the benign query, the target label for the adversarial one), a cross otherwise; a video is "
                     "shown by its first frame.",
    "precision_recall.png": "Precision–recall of Hamming-radius retrieval, each method against the target label "
                            "(and the benign queries against their own label, dashed).",
    "precision_at_k.png": "Precision@k, each method against the target label (benign queries against their own "
                          "label, dashed).",
}

MAX_TABLE_BYTES = 2**20
MAX_SIDE_FILE_BYTES = 64 * 2**20


def swept_axes(runs: Runs) -> list[str]:
    """The axes along which the runs take more than one value."""
    return [a for a in runs.axes if len({json.dumps(run.coordinates.get(a)) for run in runs.runs}) > 1]


def write_sweep_figures(runs: Runs) -> list[Path]:
    """figures/tmap_vs_<axis>.png (t-MAP of each method against the axis) for every swept axis."""
    points = [(run.coordinates, run.record) for run in runs.runs]
    methods = method_order([run.record for run in runs.runs])
    return [plot_tmap_sweep(points, axis, runs.root / FIGURE_DIR / f"tmap_vs_{axis.replace('_', '')}.png", methods)
            for axis in swept_axes(runs)]


def results_columns(runs: Runs) -> tuple[str, list[str], list[list[str]]]:
    """(caption, header, body) of the runs' table: a column per run, labelled by its swept values."""
    axes = swept_axes(runs)
    if axes:
        labels = [column_label(axes, [run.coordinates[a] for a in axes]) for run in runs.runs]
    elif len(runs.runs) == 1:
        labels = [column_label("bits", runs.runs[0].record.get("bits"))]
    else:
        labels = [run.folder.relative_to(runs.root).as_posix() for run in runs.runs]
    caption = "t-MAP / MAP (%) of each method" + (f" against {', '.join(axes)}" if axes else "")
    caption += ". " + convention_caption(main_convention(runs.runs[0].record))
    return caption, *results_table([(label, summary_row(run.record)) for label, run in zip(labels, runs.runs)])


def _main_table(runs: Runs) -> tuple[str, list[str], list[list[str]]]:
    """The sweep's own table file when it has one, else the table built from the runs."""
    try:
        text = read_text(runs.table, "sweep table", MAX_TABLE_BYTES) if runs.table is not None else None
    except OSError as exc:
        raise InputError(f"{runs.table}: unreadable sweep table ({exc})") from None
    parsed = parse_markdown(text) if text is not None else None
    if parsed is not None:
        caption, header, body = parsed
        return caption or "t-MAP / MAP (%) of each method", header, body
    return results_columns(runs)


def _attack_seconds(folder: Path) -> dict[str, float]:
    """Attack time of each method from the run's timing.json (kept apart from results.json), if any."""
    try:
        timing = read_json(folder / TIMING_FILE, "timing file", MAX_SIDE_FILE_BYTES)
        return {m: float(t["seconds"]) for m, t in timing.get("methods", {}).items()}
    except (OSError, InputError, KeyError, TypeError, ValueError, AttributeError):
        return {}


def psnr(value: float | None) -> str:
    """A PSNR in dB for a table: "∞" for identical images (null in the JSON files, inf in memory)."""
    return "∞" if value is None or value == float("inf") else f"{value:.1f}"


def _perceptibility_table(run: Run) -> tuple[list[str], list[list[str]]]:
    main = main_convention(run.record)
    other = OTHER_CONVENTION[main]
    header = ["Method", "t-MAP (%)", f"t-MAP ({other}) (%)", "ℓ∞ mean (/255)", "ℓ2 mean", "PSNR median (dB)",
              "SSIM median", "attack time (s)"]
    body = []
    seconds = _attack_seconds(run.folder)
    for method in method_order([run.record]):
        entry = run.record["methods"][method]
        seconds.setdefault(method, entry.get("seconds"))
        p = entry.get("perceptibility", {})
        body.append([method, percent(entry.get("t_map")), percent(by_convention(entry, "t_map", other)),
                     f"{255 * p['linf_mean']:.2f}" if "linf_mean" in p else "",
                     f"{p['l2_mean']:.3f}" if "l2_mean" in p else "",
                     psnr(p["psnr_median"]) if "psnr_median" in p else "",
                     f"{p['ssim_median']:.3f}" if "ssim_median" in p else "",
                     f"{seconds[method]:.1f}" if seconds.get(method) is not None else ""])
    return header, body


def _manifest_summary(folder: Path, record: dict) -> dict:
    """Counts of the run's manifest: its own manifest.json, or the one its record points to (a shared one,
    read only when it is a regular file inside the run's folder or the sweep's folder above it)."""
    candidates = [folder / MANIFEST_FILE]
    if isinstance(record.get("manifest"), str):
        candidates.append(folder / record["manifest"])
    path = next((c for c in candidates if inside_regular_file(c, folder.parent)), None)
    if path is None:
        return {}
    try:
        raw = read_json(path, "manifest", MAX_SIDE_FILE_BYTES)
        targets = [tuple(t) for t in raw["target_labels"]]
        return {"file": path.relative_to(folder).as_posix() if path.parent == folder else str(record["manifest"]),
                "dataset": raw.get("dataset", ""), "seed": raw["seed"],
                "queries": len(raw["query_ids"]), "first query ids": raw["query_ids"][:8],
                "n_t values with anchors": sorted(int(k) for k in raw["anchor_ids"]),
                "distinct target labels": len(set(targets))}
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: malformed manifest ({exc!r})") from None


def _settings_rows(run: Run) -> list[list[str]]:
    record = run.record
    settings, conv = record["settings"], record.get("conventions", {})
    rows = [("dataset", record.get("dataset", "")), ("architecture", record.get("architecture", "")),
            ("bits", record.get("bits", "")), ("queries", record.get("num_queries", "")), ("seed", record.get("seed", ""))]
    rows += [(f"setting: {k}", v) for k, v in settings.items()]
    rows += [(f"convention: {k}", v) for k, v in conv.items()]
    rows += [(f"manifest: {k}", v) for k, v in _manifest_summary(run.folder, record).items()]
    model = record.get("model", {})
    if model.get("path"):
        rows.append(("model checkpoint", model["path"]))
    if model.get("train"):
        rows.append(("model training", json.dumps(model["train"], sort_keys=True)))
    for key in ("source", "weights"):
        if key in model:
            rows.append((f"model {key}", model[key]))
    return [[k, v if isinstance(v, str) else json.dumps(v)] for k, v in rows]


def _run_section(page: Page, runs: Runs, run: Run) -> None:
    if runs.is_sweep:
        name = run.folder.relative_to(runs.root).as_posix()
        where = ", ".join(column_label(a, v) for a, v in run.coordinates.items())
        page.heading(f"Run {name}" + (f": {where}" if where else ""))
        if (run.folder / REPORT_HTML).is_file():
            page.link(f"the report of run {name}", run.folder / REPORT_HTML)
    page.heading("Methods: success and perceptibility", 3)
    main = main_convention(run.record)
    page.table(*_perceptibility_table(run), "results")
    page.paragraph(f"t-MAP under the run's main zero-relevance convention ({main}) and beside it the other "
                   f"({OTHER_CONVENTION[main]}); perceptibility in pixel space (SSIM: 11x11 Gaussian window, "
                   f"σ 1.5, per channel).")
    for file, text in FIGURE_CAPTIONS.items():
        if (run.folder / FIGURE_DIR / file).is_file():
            page.figure(run.folder / FIGURE_DIR / file, text)
    if "export" in run.record:   # the run wrote its adversarial queries as PNG files
        export = run.record["export"]
        page.heading("Exported adversarial queries (8-bit PNG)", 3)
        page.paragraph(f"Every query of every method is in {export['folder']}/<method>/<source>.png, its amplified "
                       f"perturbation in {export['folder']}/perturbation/; {export['index']} names each query's source. "
                       f"t-MAP of the files read back from disk against the in-memory queries:")
        page.table(*export_scores_table(export), "results")
        page.table(*export_sources_table(export), "kv")
    page.heading("Settings and conventions", 3)
    page.table(["Item", "Value"], _settings_rows(run), "kv")
    files = sorted(p.relative_to(runs.root).as_posix() for p in run.folder.iterdir()
                   if p.is_file() and not p.name.startswith((".", "report.")))
    page.paragraph("Files: " + ", ".join(files))


def write_report(run_dir: str | Path, run_reports: bool = True) -> dict:
    """Write `report.md` and `report.html` (and a sweep's figures and, unless `run_reports` is False
    because they are written already, its runs' reports) into `run_dir`.

    Returns {"html": path, "markdown": path, "figures": [sweep figure paths], "runs": [run report paths]}.
    """
    runs = load_runs(run_dir)
    remove_stale_temporaries(runs.root, (".", FIGURE_DIR))   # what a killed report left
    run_reports = [write_report(run.folder)["html"] for run in runs.runs] if runs.is_sweep and run_reports else []
    sweep_figures = write_sweep_figures(runs) if runs.is_sweep else []
    first = runs.runs[0].record
    page = Page(runs.root, f"hashattack report: {runs.root.resolve().name}")
    count = len(runs.runs)
    page.paragraph(f"{count} run{'s' if count > 1 else ''} on {first.get('dataset', '?')}, "
                   f"{first.get('num_queries', '?')} queries each, ε in {first['settings'].get('eps_space', '?')} "
                   f"space, {first.get('conventions', {}).get('map', '')}; t-MAP scores the adversarial query "
                   f"against its target label, MAP the benign query against its own.")
    if runs.missing:
        page.paragraph(f"Not run yet: {', '.join(runs.missing)}.")
    caption, header, body = _main_table(runs)
    page.heading("Results")
    page.paragraph(caption.rstrip(".") + ".")
    page.table(header, body, "results")
    for axis, path in zip(swept_axes(runs), sweep_figures):
        page.figure(path, f"t-MAP of each method against {axis} (Original's benign MAP dashed).")
    for run in runs.runs:
        _run_section(page, runs, run)
    md_path, html_path = page.write()
    return {"html": html_path, "markdown": md_path, "figures": sweep_figures, "runs": run_reports}


__all__ = ["write_report", "write_sweep_figures", "results_columns", "swept_axes", "psnr", "FIGURE_CAPTIONS"]
