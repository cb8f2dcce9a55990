"""`report.html` and `report.md` of a run folder: tables, figures, settings and conventions.

A run folder holds one run (`results.json` at its top) or a sweep (runs in sub-folders, each
with its `results.json`, e.g. one per ε, per n_t or per code length). The report gathers every
run below the folder, draws the sweep curves (t-MAP against each setting that varies: ε, n_t,
bits) into `figures/`, and writes:

- `report.md`: Markdown with tables and relative links to the PNG files;
- `report.html`: one self-contained page (figures embedded as base64 data URIs, no network);
  once loaded, a small script marks `<body>` with `data-images-total` and `data-images-broken`,
  so a headless browser can check that nothing failed to render.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from hashattack.errors import InputError
from hashattack.files import atomic_write_text
from hashattack.reporting.tables import markdown, percent, table1

SWEEP_AXES = ("eps", "n_t", "bits", "steps")
METHOD_ORDER = ("Original", "Noise", "P2P", "DHTA")
MAX_DEPTH = 3
FIGURE_CAPTIONS = {
    "adversarial_examples.png": "Benign queries, their perturbations (amplified to be visible) and the adversarial "
                                "queries; each column's title names the target label.",
    "retrieval.png": "Top-10 retrieved objects: a tick when the object carries the desired label (the true label for "
                     "the benign query, the target label for the adversarial one), a cross otherwise.",
    "precision_recall.png": "Precision–recall of Hamming-radius retrieval, each method against the target label "
                            "(and the benign queries against their own label, dashed).",
    "precision_at_k.png": "Precision@k, each method against the target label (benign queries against their own "
                          "label, dashed).",
}


def find_runs(run_dir: str | Path) -> list[tuple[Path, dict]]:
    """(folder, results.json record) of every run at or below `run_dir` (3 levels deep), sorted by folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"run folder {run_dir} does not exist")
    found = []
    for depth in range(MAX_DEPTH + 1):
        for path in sorted(run_dir.glob("/".join(["*"] * depth + ["results.json"]))):
            try:
                record = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}: malformed results ({exc})") from None
            if not isinstance(record, dict) or "methods" not in record or "settings" not in record:
                raise InputError(f"{path}: not a hashattack results file (no 'methods' or 'settings')")
            found.append((path.parent, record))
    if not found:
        raise InputError(f"no results.json in {run_dir} or its sub-folders: run an experiment into it first")
    return sorted(found, key=lambda item: _sort_key(item[1], item[0]))


def _sort_key(record: dict, folder: Path):
    settings = record["settings"]
    return (record.get("bits") or 0, settings.get("eps") or 0, settings.get("n_t") or 0, str(folder))


def _value(record: dict, key: str):
    return record["settings"][key] if key in record["settings"] else record.get(key)


def varying_settings(records: list[dict]) -> list[str]:
    """The sweep axes (ε, n_t, bits, steps) whose values differ between the records."""
    return [key for key in SWEEP_AXES if len({json.dumps(_value(r, key)) for r in records}) > 1]


def sweep_table(records: list[dict], x: str) -> tuple[list[str], list[list[str]]]:
    """t-MAP / MAP (%) of each method (rows) at each value of setting `x` (columns)."""
    label = {"eps": "ε", "n_t": "n_t", "bits": "bits", "steps": "steps"}.get(x, x)
    header = ["Method", "Metric"] + [f"{label} = {_value(r, x)}" for r in records]
    methods = _methods(records)
    body = [[m, "t-MAP"] + [percent(r["methods"][m]["t_map"]) if m in r["methods"] else "" for r in records]
            for m in methods]
    if any("map" in r["methods"].get("Original", {}) for r in records):
        body.append(["Original", "MAP"] + [percent(r["methods"].get("Original", {}).get("map")) for r in records])
    return header, body


def write_sweep_figures(run_dir: str | Path, records: list[dict]) -> list[Path]:
    """figures/tmap_vs_<axis>.png for every sweep axis along which the records vary (others held)."""
    from hashattack.reporting.plots import plot_tmap_sweep

    written = []
    for axis in varying_settings(records):
        if axis == "steps":
            continue
        written.append(plot_tmap_sweep(records, axis, Path(run_dir) / "figures" / f"tmap_vs_{axis.replace('_', '')}.png"))
    return written


def _attack_seconds(folder: Path) -> dict[str, float]:
    """Attack time of each method from the run's timing.json (kept apart from results.json), if any."""
    try:
        timing = json.loads((folder / "timing.json").read_text())
        return {m: float(t["seconds"]) for m, t in timing.get("methods", {}).items()}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return {}


def _perceptibility_table(record: dict, folder: Path) -> tuple[list[str], list[list[str]]]:
    header = ["Method", "t-MAP (%)", "ℓ∞ mean (/255)", "ℓ2 mean", "PSNR median (dB)", "attack time (s)"]
    body = []
    seconds = _attack_seconds(folder)
    for method in _methods([record]):
        entry = record["methods"][method]
        seconds.setdefault(method, entry.get("seconds"))
        p = entry.get("perceptibility", {})
        body.append([method, percent(entry.get("t_map")),
                     f"{255 * p['linf_mean']:.2f}" if "linf_mean" in p else "",
                     f"{p['l2_mean']:.3f}" if "l2_mean" in p else "",
                     f"{p['psnr_median']:.1f}" if "psnr_median" in p else "",
                     f"{seconds[method]:.1f}" if seconds.get(method) is not None else ""])
    return header, body


def _manifest_summary(folder: Path, record: dict) -> dict:
    """Counts of the run's manifest: its own manifest.json, or the one its record points to (a shared one)."""
    candidates = [folder / "manifest.json"]
    if isinstance(record.get("manifest"), str):
        candidates.append(folder / record["manifest"])
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text())
        targets = [tuple(t) for t in raw["target_labels"]]
        return {"file": path.relative_to(folder).as_posix() if path.parent == folder else str(record["manifest"]),
                "dataset": raw.get("dataset", ""), "seed": raw["seed"],
                "queries": len(raw["query_ids"]), "first query ids": raw["query_ids"][:8],
                "n_t values with anchors": sorted(int(k) for k in raw["anchor_ids"]),
                "distinct target labels": len(set(targets))}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed manifest ({exc})") from None


def _settings_rows(record: dict, folder: Path) -> list[tuple[str, str]]:
    settings, conv = record["settings"], record.get("conventions", {})
    rows = [("dataset", record.get("dataset", "")), ("architecture", record.get("architecture", "")),
            ("bits", record.get("bits", "")), ("queries", record.get("num_queries", "")), ("seed", record.get("seed", ""))]
    rows += [(f"setting: {k}", v) for k, v in settings.items()]
    rows += [(f"convention: {k}", v) for k, v in conv.items()]
    rows += [(f"manifest: {k}", v) for k, v in _manifest_summary(folder, record).items()]
    model = record.get("model", {})
    if model.get("path"):
        rows.append(("model checkpoint", model["path"]))
    if model.get("train"):
        rows.append(("model training", json.dumps(model["train"], sort_keys=True)))
    for key in ("source", "weights"):
        if key in model:
            rows.append((f"model {key}", model[key]))
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in rows]


def _main_table(records: list[dict]) -> tuple[str, list[str], list[list[str]]]:
    axes = [a for a in varying_settings(records) if a != "steps"]
    if len(records) == 1 or axes == ["bits"]:
        rows = [r["summary"] for r in records if "summary" in r]
        if rows:
            return "t-MAP / MAP (%) in the paper's Table 1 layout", *table1(rows)
    if len(axes) == 1:
        return f"t-MAP / MAP (%) against {axes[0]}", *sweep_table(records, axes[0])
    header = ["Run", "bits", "ε", "n_t"] + [f"{m} t-MAP" for m in _methods(records)]
    body = [[f"run {i + 1}", str(r.get("bits")), str(r["settings"].get("eps")), str(r["settings"].get("n_t"))]
            + [percent(r["methods"][m]["t_map"]) if m in r["methods"] else "" for m in _methods(records)]
            for i, r in enumerate(records)]
    return "t-MAP (%) of every run", header, body


def _methods(records: list[dict]) -> list[str]:
    """Methods of the records in the paper's order (Original, Noise, P2P, DHTA), others after."""
    seen = []
    for r in records:
        seen += [m for m in r["methods"] if m not in seen]
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(seen, key=lambda m: (rank.get(m, len(rank)), seen.index(m)))


class _Page:
    """Collects the report once, renders it as Markdown and as HTML."""

    def __init__(self, root: Path):
        self.root, self.md, self.html = root, [], []

    def heading(self, text: str, level: int = 2) -> None:
        self.md.append(f"{'#' * level} {text}\n")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        self.md.append(text + "\n")
        self.html.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], body: list[list[str]], css: str = "") -> None:
        self.md.append(markdown(header, body))
        cells = lambda row, tag: "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)
        rows = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in body)
        self.html.append(f'<table class="{css}"><thead><tr>{cells(header, "th")}</tr></thead><tbody>{rows}</tbody></table>')

    def figure(self, path: Path, caption: str) -> None:
        rel = path.relative_to(self.root).as_posix()
        self.md.append(f"![{caption}]({rel})\n\n*{caption}*\n")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                         f"<figcaption>{html.escape(rel)}: {html.escape(caption)}</figcaption></figure>")


CSS = """body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0 1.2em}th,td{border:1px solid #bbb;padding:3px 9px;text-align:left;font-size:14px}
thead th{background:#eef}td:nth-child(n+3){font-variant-numeric:tabular-nums}table.kv td:first-child{font-weight:600}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#555}
code{background:#f4f4f4;padding:1px 4px}"""

SCRIPT = """window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  document.body.setAttribute('data-images-total', String(images.length));
  document.body.setAttribute('data-images-broken', String(broken.length));
  document.body.setAttribute('data-tables', String(document.querySelectorAll('table tbody tr').length));
});"""


def write_report(run_dir: str | Path) -> dict[str, Path]:
    """Write `report.md` and `report.html` (and any sweep figures) into `run_dir`; returns their paths."""
    root = Path(run_dir)
    runs = find_runs(root)
    records = [record for _, record in runs]
    sweep_figures = write_sweep_figures(root, records) if len(records) > 1 else []

    page = _Page(root)
    first = records[0]
    title = f"hashattack report: {root.resolve().name}"
    page.heading(title, 1)
    page.paragraph(f"{len(records)} run{'s' if len(records) > 1 else ''} on {first.get('dataset', '?')}, "
                   f"{first.get('num_queries', '?')} queries each, ε in {first['settings'].get('eps_space', '?')} "
                   f"space, {first.get('conventions', {}).get('map', '')}; t-MAP scores the adversarial query "
                   f"against its target label, MAP the benign query against its own.")
    caption, header, body = _main_table(records)
    page.heading("Results")
    page.paragraph(caption + ".")
    page.table(header, body, "results")
    for path in sweep_figures:
        page.figure(path, f"t-MAP against {path.stem.removeprefix('tmap_vs_')} (other settings fixed).")

    for folder, record in runs:
        name = folder.relative_to(root).as_posix()
        if len(runs) > 1:
            page.heading(f"Run {name}: {record.get('bits')} bits, ε = {record['settings'].get('eps')}, "
                         f"n_t = {record['settings'].get('n_t')}")
        page.heading("Methods: success and perceptibility", 3)
        page.table(*_perceptibility_table(record, folder), "results")
        for file, text in FIGURE_CAPTIONS.items():
            if (folder / "figures" / file).is_file():
                page.figure(folder / "figures" / file, text)
        page.heading("Settings and conventions", 3)
        page.table(["Item", "Value"], [list(r) for r in _settings_rows(record, folder)], "kv")
        files = sorted(p.relative_to(root).as_posix() for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith((".", "report.")))
        page.paragraph("Files: " + ", ".join(files))

    md_path, html_path = root / "report.md", root / "report.html"
    atomic_write_text(md_path, "\n".join(page.md))
    document = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(page.html)
                + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    atomic_write_text(html_path, document)
    return {"html": html_path, "markdown": md_path, "figures": sweep_figures}


__all__ = ["write_report", "find_runs", "varying_settings", "sweep_table", "write_sweep_figures"]
