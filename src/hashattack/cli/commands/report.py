"""`hashattack report RUN_DIR`: report.html and report.md of a run or a sweep folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from hashattack.cli.options import positive_int
from hashattack.cli.values import path_value
from hashattack.errors import InputError
from hashattack.protocol.run_lock import RunLock
from hashattack.reporting.browser import render
from hashattack.reporting.report import write_report


def add_parser(commands) -> None:
    report = commands.add_parser(
        "report", help="write report.html and report.md of a run folder (tables, figures, settings)",
        description="Gather every results.json at or below RUN_DIR (one run, or a sweep with one run per "
                    "sub-folder), draw the t-MAP curves of the settings that vary, and write a self-contained "
                    "report.html (figures embedded) and report.md into RUN_DIR.",
        epilog="example: hashattack report runs/demo && xdg-open runs/demo/report.html",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("run_dir", type=path_value, metavar="RUN_DIR", help="a folder written by demo, run, audit or a preset")
    report.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="also render report.html in headless Chromium and save a screenshot (needs chromium)")
    report.add_argument("--width", type=positive_int, default=1200, help="screenshot width in pixels (default 1200)")
    report.add_argument("--height", type=positive_int, default=2400, help="screenshot height in pixels (default 2400)")
    report.add_argument("--quiet", action="store_true", help="print nothing but errors")
    report.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    lock = RunLock(args.run_dir)
    if args.run_dir.is_dir():        # a run still writing its folder keeps it: no report of half a run
        lock.acquire()
    try:
        paths = write_report(args.run_dir)
    finally:
        lock.release()
    if not args.quiet:
        print(f"report: {paths['html']}  (Markdown: {paths['markdown']})")
    if args.screenshot is not None:
        page = render(paths["html"], args.screenshot, args.width, args.height)
        if page.get("images-broken", 1) != 0:
            raise InputError(f"{paths['html']}: {page.get('images-broken', '?')} of "
                             f"{page.get('images-total', '?')} images did not render in Chromium")
        if not args.quiet:
            print(f"screenshot: {args.screenshot} ({page['images-total']} images, {page['tables']} table rows rendered)")
    return 0
