"""Tables of results (Markdown to paste, CSV to load): methods as rows, runs as columns.

One layout serves every table of the paper: `results_table` takes one summary row per column
(a code length, an ε, an n_t, …) and lists each method's t-MAP, then the MAP of the methods scored
against the queries' own labels (the benign MAP, the MAP under the untargeted attack), in percent.
With one column per code length it is appendix Table 1; with ε, Table 2; with Feature and DHTA,
Table 3.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hashattack.files import atomic_write_text
from hashattack.retrieval.metrics import OTHER_CONVENTION, ZERO_RELEVANCE, mean_of_average_precisions
from hashattack.run_format import TABLE_NAME

AXIS_LABELS = {"eps": "ε", "n_t": "n_t", "steps": "steps"}
CONVENTION_MEANING = {"zero": "queries with no relevant item in the top R count as AP 0",
                      "drop": "queries with no relevant item in the top R are left out of the mean, as the official code"}


def percent(value: float | None) -> str:
    """A fraction in [0, 1] as a percentage with two decimals; "" for a missing value."""
    return "" if value is None else f"{100 * value:.2f}"


def column_label(axis: str | Sequence[str], value) -> str:
    """The heading of a run's column: "16 bits", "ε = 0.02", "n_t = 9", "steps = 500".

    Several axes at once (`axis` and `value` both sequences) give their labels joined by ", ".
    """
    if not isinstance(axis, str):
        return ", ".join(column_label(a, v) for a, v in zip(axis, value, strict=True))
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    if axis == "bits":
        return f"{shown} bits"
    return f"{AXIS_LABELS.get(axis, axis)} = {shown}"


def main_convention(record: dict) -> str:
    """The main zero-relevance convention of a run's or a transfer's record ("zero" in records older than the field)."""
    return record["settings"].get("zero_relevance", ZERO_RELEVANCE[0])


def convention_caption(zero_relevance: str) -> str:
    """The sentence a table's caption carries about its two zero-relevance conventions."""
    other = OTHER_CONVENTION[zero_relevance]
    return (f"Main columns: {CONVENTION_MEANING[zero_relevance]} (\"{zero_relevance}\"); columns marked ({other}): "
            f"{CONVENTION_MEANING[other]}.")


def by_convention(entry: dict, metric: str, zero_relevance: str) -> float | None:
    """A method's "t_map" or "map" under a zero-relevance convention: its recorded "<metric>_by_convention", else
    reduced from its per-query APs ("t_ap" / "ap", None = nothing relevant in the top R), else None."""
    recorded = entry.get(f"{metric}_by_convention")
    if isinstance(recorded, dict) and zero_relevance in recorded:
        return recorded[zero_relevance]
    aps = entry.get({"t_map": "t_ap", "map": "ap"}[metric])
    if not isinstance(aps, list):
        return None
    return mean_of_average_precisions(np.array([np.nan if v is None else v for v in aps], dtype=np.float64),
                                      zero_relevance)


def summary_values(methods: dict[str, dict], order: Sequence[str], zero_relevance: str = "zero") -> dict:
    """A run's table numbers from its per-method results ({"t_map", "map", "scored_by"}), fractions: every
    method's t-MAP ("DHTA t-MAP"), then "<Method> MAP" of the methods scored by their MAP against the queries'
    own labels (Original's benign MAP, the untargeted attack's); records without "scored_by" show Original's.
    The values are those of the main convention `zero_relevance`; where the records allow it, each is joined
    by its value under the other convention ("DHTA t-MAP (drop)") and the row names its main convention."""
    row = {f"{m} t-MAP": methods[m].get("t_map") for m in order}
    for m in order:
        if "map" in methods[m] and methods[m].get("scored_by", "map" if m == "Original" else "t_map") == "map":
            row[f"{m} MAP"] = methods[m]["map"]
    other = OTHER_CONVENTION[zero_relevance]
    others = {}
    for key in row:
        name, metric = key.rsplit(" ", 1)
        value = by_convention(methods[name], "t_map" if metric == "t-MAP" else "map", other)
        if value is not None:
            others[f"{key} ({other})"] = value
    return {**row, **others, "zero_relevance": zero_relevance} if others else row


def results_table(columns: Sequence[tuple[str, dict]]) -> tuple[list[str], list[list[str]]]:
    """Methods as rows, one column per (label, summary row); values in percent.

    A summary row maps "<Method> t-MAP" and "<Method> MAP" (e.g. "Original MAP") to fractions in
    [0, 1]; other keys are ignored. Rows: every method's t-MAP in the order the keys first appear
    across the columns, then the MAP rows. A value a column lacks is an empty cell. A row holding
    the other zero-relevance convention's values ("DHTA t-MAP (drop)", see `summary_values`) gets
    a second column beside its own, headed "<label> (drop)".
    """
    keys = [key for key in dict.fromkeys(k for _, row in columns for k in row) if isinstance(key, str)]
    ordered = [k for k in keys if k.endswith(" t-MAP")] + [k for k in keys if k.endswith(" MAP")
                                                             and not k.endswith(" t-MAP")]
    header, cells = ["Method", "Metric"], []
    for label, row in columns:
        header.append(label)
        cells.append(lambda key, row=row: percent(row.get(key)))
        suffix = f" ({OTHER_CONVENTION.get(row.get('zero_relevance', 'zero'), 'drop')})"
        if any(key + suffix in row for key in ordered):
            header.append(label + suffix)
            cells.append(lambda key, row=row, suffix=suffix: percent(row.get(key + suffix)))
    body = [[*key.rsplit(" ", 1), *(cell(key) for cell in cells)] for key in ordered]
    return header, body


def markdown(header: list[str], body: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table with aligned columns."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *body)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in body]) + "\n"


def parse_markdown(text: str) -> tuple[str, list[str], list[list[str]]] | None:
    """Inverse of `write_table`'s Markdown: (caption, header, body), or None when `text` holds no table."""
    lines = text.splitlines()
    rows = [line for line in lines if line.startswith("|")]
    if len(rows) < 2:
        return None
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in rows if not line.startswith("|-")]
    caption = " ".join(line.strip() for line in lines if line.strip() and not line.startswith("|"))
    return caption, cells[0], cells[1:]


def csv_text(header: list[str], body: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return buffer.getvalue()


def write_table(run_dir: Path, header: list[str], body: list[list[str]], name: str = TABLE_NAME,
                caption: str = "") -> str:
    """Write `<name>.md` (with an optional caption line) and `<name>.csv`; return the Markdown."""
    text = markdown(header, body)
    atomic_write_text(Path(run_dir) / f"{name}.md", (caption + "\n\n" if caption else "") + text)
    atomic_write_text(Path(run_dir) / f"{name}.csv", csv_text(header, body))
    return text


# Transitional: the layouts the old protocol code still asks for by name; they go once it calls
# `results_table` (table1 is `results_table` with one column per code length).
def table1(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    return results_table([(column_label("bits", row["bits"]), row) for row in rows])


def table2(eps_values: list[float], t_maps: list[float], label: str) -> tuple[list[str], list[list[str]]]:
    return ["ε", *(f"{eps:g}" for eps in eps_values)], [[label, *(percent(v) for v in t_maps)]]


def table3(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    header, body = table1(rows)
    names = {"Feature": "Feature-based Attack"}
    return ["Method", *header[2:]], [[names.get(r[0], r[0]), *r[2:]] for r in body if r[1] == "t-MAP"]


def nt_table(n_ts: list[int], t_maps: list[float], label: str = "DHTA t-MAP") -> tuple[list[str], list[list[str]]]:
    return ["n_t", *(str(n) for n in n_ts)], [[label, *(percent(v) for v in t_maps)]]


__all__ = ["results_table", "summary_values", "by_convention", "convention_caption", "main_convention", "OTHER_CONVENTION", "column_label", "percent", "markdown", "parse_markdown", "csv_text", "write_table"]
