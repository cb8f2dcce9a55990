"""Tables of a run's exported adversarial queries: t-MAP of the PNG files read back vs in memory, and
which source file each query came from."""

from __future__ import annotations

from hashattack.reporting.tables import percent

SHOWN_SOURCES = 12


def export_scores_table(export: dict) -> tuple[list[str], list[list[str]]]:
    """Per method: t-MAP in memory, t-MAP of the 8-bit PNG files read back, codes that changed."""
    header = ["Method", "t-MAP in memory (%)", "t-MAP of the PNG files (%)", "codes changed", "files"]
    body = [[method, percent(e["t_map_memory"]), percent(e["t_map_png"]), str(e["codes_changed"]), str(e["files"])]
            for method, e in export["methods"].items()]
    return header, body


def export_sources_table(export: dict, limit: int = SHOWN_SOURCES) -> tuple[list[str], list[list[str]]]:
    """The first queries' ids, their source names and their exported files (all of them in export/index.csv)."""
    methods = list(export["methods"])
    shown = "DHTA" if "DHTA" in methods else methods[-1] if methods else ""
    rows = [[qid, name, f"{export['folder']}/{shown}/{name}.png"]
            for qid, name in list(export["sources"].items())[:limit]]
    return ["Query id", "Source", f"{shown} file"], rows


__all__ = ["export_scores_table", "export_sources_table"]
