"""The one-screen summary a command prints when a run finishes: the table, and where its files are."""

from __future__ import annotations

from pathlib import Path

from hashattack.run_format import (BATCH_DIR, CONFIG_FILE, CURVES_FILE, EXAMPLES_FILE, FIGURE_DIR, MANIFEST_FILE, REPORT_HTML,
                                    REPORT_MD, RESULTS_FILE, RUN_FILE, SWEEP_FILE, TABLE_CSV, TABLE_FILE, TIMING_FILE)

FILE_ROLES = {
    SWEEP_FILE: "the sweep: its axes and its runs, one sub-folder each",
    RESULTS_FILE: "every number of the run (per-query APs, codes, settings, conventions)",
    TABLE_FILE: f"the table in Markdown ({TABLE_CSV}: the same as CSV)",
    MANIFEST_FILE: "queries, targets and anchor objects: rerun exactly with --manifest",
    CURVES_FILE: "precision-recall and precision@k curves",
    EXAMPLES_FILE: "pixels and top-10 ids of the first queries",
    FIGURE_DIR: "PNG figures (frames.png for a video run)",
    RUN_FILE: f"the run's fingerprint: rerunning the same command resumes ({BATCH_DIR}/ holds finished batches)",
    TIMING_FILE: "wall-clock times of training and of each method",
    REPORT_HTML: "the report, one self-contained page (open it in a browser)",
    REPORT_MD: "the report in Markdown",
    CONFIG_FILE: "every option of the run: rerun with `hashattack run`",
}


def _size(path: Path) -> str:
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def run_summary(folder: str | Path, table: str = "", seconds: float | None = None, note: str = "") -> str:
    """A short text: the table, a note line, then each known file of `folder` with its role."""
    folder = Path(folder)
    lines = [table.rstrip("\n"), ""] if table else []
    if note or seconds is not None:
        lines.append(" ".join(x for x in (note, f"({seconds:.0f} s)" if seconds is not None else "") if x))
    lines.append(f"run folder: {folder}")
    for name, role in FILE_ROLES.items():
        path = folder / name
        if path.exists():
            lines.append(f"  {name + ('/' if path.is_dir() else ''):<22} {role} [{_size(path)}]")
    subruns = sorted(p.parent.name for p in folder.glob(f"*/{RESULTS_FILE}"))
    if subruns:
        lines.append(f"  {len(subruns)} runs in sub-folders: {', '.join(subruns)}")
    return "\n".join(lines) + "\n"


__all__ = ["run_summary"]
