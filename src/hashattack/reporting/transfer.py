"""The transfer matrix as a table, a heat map and a report page (rows surrogates, columns victims)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hashattack.reporting.page import Page
from hashattack.reporting.plots import blank_figure, plain, save_figure
from hashattack.reporting.tables import (CONVENTION_MEANING, OTHER_CONVENTION, by_convention, main_convention, percent,
                                         write_table)
from hashattack.run_format import FIGURE_DIR


def row_order(result: dict) -> list[str]:
    """The matrix's rows as run: the benign queries, then the surrogates (transfer.json sorts its keys)."""
    return [result["benign_row"], *result["surrogates"]]


def transfer_table(result: dict) -> tuple[list[str], list[list[str]]]:
    """Rows: the benign queries, then each surrogate; columns: each victim (t-MAP %, * = white box), each
    followed, where the cells hold their per-query APs, by its t-MAP under the other zero-relevance
    convention ("victim (drop)")."""
    other = OTHER_CONVENTION[main_convention(result)]
    cells_of = [entry["victims"][v] for entry in result["matrix"].values() for v in result["victims"]]
    both = all(by_convention(c, "t_map", other) is not None for c in cells_of)
    header = ["Surrogate \\ victim"]
    for victim in result["victims"]:
        header += [victim, f"{victim} ({other})"] if both else [victim]
    body = []
    for row in row_order(result):
        entry = result["matrix"][row]
        cells = []
        for c in (entry["victims"][v] for v in result["victims"]):
            mark = " *" if c.get("white_box") else ""
            cells.append(percent(c["t_map"]) + mark)
            if both:
                cells.append(percent(by_convention(c, "t_map", other)) + mark)
        body.append([row, *cells])
    return header, body


def transfer_summary(result: dict) -> list[list[str]]:
    """Mean t-MAP per kind of cell: white box, ensembles holding the victim, black box from one model, black box
    from an ensemble without the victim, and the benign queries."""
    names = ("white box (the surrogate is the victim)", "ensemble holding the victim",
             "black box, one surrogate", "black box, ensemble without the victim", "benign queries")
    groups: dict[str, list[float]] = {name: [] for name in names}
    for row, entry in result["matrix"].items():
        single = len(entry["members"]) == 1
        for cell in entry["victims"].values():
            if row == result["benign_row"]:
                key = names[4]
            elif cell.get("white_box"):
                key = names[0] if single else names[1]
            else:
                key = names[2] if single else names[3]
            groups[key].append(cell["t_map"])
    return [[name, percent(float(np.mean(v))) if v else "", str(len(v))] for name, v in groups.items()]


def plot_transfer(result: dict, path: str | Path) -> Path:
    """Heat map of t-MAP (%): rows surrogates (benign first), columns victims; white-box cells outlined."""
    rows, victims = row_order(result), result["victims"]
    values = np.array([[100 * result["matrix"][r]["victims"][v]["t_map"] for v in victims] for r in rows])
    fig = blank_figure(1.6 + 1.25 * len(victims) + 0.06 * max(len(r) for r in rows), 1.2 + 0.45 * len(rows))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i, row in enumerate(rows):
        for j, victim in enumerate(victims):
            cell = result["matrix"][row]["victims"][victim]
            ax.text(j, i, f"{values[i, j]:.1f}", ha="center", va="center", fontsize=8,
                    color="black" if values[i, j] > 60 else "white", fontweight="bold" if cell.get("white_box") else None)
            if cell.get("white_box"):
                ax.plot([j - 0.5, j + 0.5, j + 0.5, j - 0.5, j - 0.5], [i - 0.5, i - 0.5, i + 0.5, i + 0.5, i - 0.5],
                        color="red", linewidth=1.5)
    ax.set_xticks(range(len(victims)), [plain(v) for v in victims], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [plain(r) for r in rows], fontsize=8)
    ax.set_xlabel("victim (scored with its own database codes)")
    ax.set_title(plain(f"{result['method']} t-MAP (%) crafted on the surrogate (row), {result['num_queries']} queries"),
                 fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    return save_figure(fig, path)


def write_transfer_report(out: str | Path, result: dict) -> dict:
    """table.md / table.csv, figures/transfer.png, report.md / report.html of a transfer run."""
    out = Path(out)
    header, body = transfer_table(result)
    settings = result["settings"]
    other = OTHER_CONVENTION[main_convention(result)]
    caption = (f"{result['method']} t-MAP (%) on {result['dataset']}, {result['num_queries']} queries: crafted on the "
               f"surrogate (row), scored on the victim (column) with the victim's own database codes; * white box. "
               f"eps = {settings['eps']} ({settings['eps_space']} space), {settings['steps']} steps, "
               f"n_t = {settings['n_t']}, {result['conventions']['map']}, zero-relevance queries: "
               f"{settings['zero_relevance']}"
               + (f"; columns marked ({other}): {CONVENTION_MEANING[other]}." if len(header) > 1 + len(result["victims"])
                  else "."))
    write_table(out, header, body, caption=caption)
    figure = plot_transfer(result, out / FIGURE_DIR / "transfer.png")
    page = Page(out, f"hashattack transfer: {out.resolve().name}")
    page.paragraph(caption)
    page.table(header, body, "results")
    page.figure(figure, "t-MAP of each surrogate's adversarial queries on each victim; white-box cells outlined.")
    page.heading("Summary")
    page.table(["Cells", "mean t-MAP (%)", "cells"], transfer_summary(result), "kv")
    page.heading("Surrogates")
    page.table(["Surrogate", "members", "t-MAP on itself (%)", "run folder"],
               [[r, " + ".join(result["matrix"][r]["members"]), percent(result["matrix"][r]["surrogate_t_map"]),
                 result["matrix"][r]["folder"]] for r in result["surrogates"]], "kv")
    md, html = page.write()
    return {"markdown": md, "html": html, "figure": figure}


__all__ = ["row_order", "transfer_table", "transfer_summary", "plot_transfer", "write_transfer_report"]
