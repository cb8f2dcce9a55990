"""The one-screen summary a command prints when a run finishes: the table, and where its files are."""

from __future__ import annotations

from pathlib import Path

FILE_ROLES = {
    "sweep.json": "the sweep: its axes and its runs, one sub-folder each",
    "results.json": "every number of the run (per-query APs, codes, settings, conventions)",
    "table.md": "the table in Markdown (table.csv: the same as CSV)",
    "manifest.json": "queries, targets and anchor objects: rerun exactly with --manifest",
    "curves.json": "precision-recall and precision@k curves",
    "examples.npz": "pixels and top-10 ids of the first queries",
    "figures": "PNG figures (frames.png for a video run)",
    "run.json": "the run's fingerprint: rerunning the same command resumes (batches/ holds finished batches)",
    "timing.json": "wall-clock times of training and of each method",
    "report.html": "the report, one self-contained page (open it in a browser)",
    "report.md": "the report in Markdown",
    "config.resolved.toml": "every option of the run: rerun with `hashattack run`",
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
    subruns = sorted(p.parent.name for p in folder.glob("*/results.json"))
    if subruns:
        lines.append(f"  {len(subruns)} runs in sub-folders: {', '.join(subruns)}")
    return "\n".join(lines) + "\n"


__all__ = ["run_summary"]
