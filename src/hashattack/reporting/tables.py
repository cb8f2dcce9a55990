"""Tables in the paper's layout (Markdown to paste, CSV to load) from a run's results."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hashattack.files import atomic_write_text

TABLE1_ROWS = (("Original", "t-MAP"), ("Noise", "t-MAP"), ("P2P", "t-MAP"), ("DHTA", "t-MAP"), ("Original", "MAP"))


def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def table1(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Appendix Table 1 layout: one column per code length, t-MAP of each method and the benign MAP (in %).

    rows: one dict per code length as made by `experiment.summary_row`.
    """
    header = ["Method", "Metric"] + [f"{row['bits']} bits" for row in rows]
    body = []
    for method, metric in TABLE1_ROWS:
        key = f"{method} {metric}"
        if any(key in row for row in rows):
            body.append([method, metric] + [percent(row.get(key)) for row in rows])
    return header, body


def markdown(header: list[str], body: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table with aligned columns."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *body)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in body]) + "\n"


def csv_text(header: list[str], body: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return buffer.getvalue()


def write_table(run_dir: Path, header: list[str], body: list[list[str]], name: str = "table",
                caption: str = "") -> str:
    """Write `<name>.md` (with an optional caption line) and `<name>.csv`; return the Markdown."""
    text = markdown(header, body)
    atomic_write_text(Path(run_dir) / f"{name}.md", (caption + "\n\n" if caption else "") + text)
    atomic_write_text(Path(run_dir) / f"{name}.csv", csv_text(header, body))
    return text


def table2(eps_values: list[float], t_maps: list[float], label: str) -> tuple[list[str], list[list[str]]]:
    """Appendix Table 2 layout: DHTA t-MAP (%) at one code length, one column per ε; `label` names the row."""
    return ["ε"] + [f"{eps:g}" for eps in eps_values], [[label] + [percent(v) for v in t_maps]]


def table3(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Appendix Table 3 layout: t-MAP (%) of the feature-based attack and DHTA, one column per code length.

    rows: one dict per code length with "bits", "Feature t-MAP" and "DHTA t-MAP".
    """
    header = ["Method"] + [f"{row['bits']} bits" for row in rows]
    body = [[name] + [percent(row.get(f"{method} t-MAP")) for row in rows]
            for name, method in (("Feature-based Attack", "Feature"), ("DHTA", "DHTA"))]
    return header, body


def nt_table(n_ts: list[int], t_maps: list[float], label: str = "DHTA t-MAP") -> tuple[list[str], list[list[str]]]:
    """t-MAP (%) as the number n_t of target objects voted into the anchor varies (n_t = 1 is P2P)."""
    return ["n_t"] + [str(n) for n in n_ts], [[label] + [percent(v) for v in t_maps]]
