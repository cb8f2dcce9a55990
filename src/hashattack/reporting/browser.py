"""Render a report in headless Chromium: a screenshot and the page's own check of its images.

Used by the report test and by `hashattack report --screenshot`. Chromium (Debian packages
`chromium`, `chromium-driver`) runs with a fresh user-data folder, no sandbox, no GPU and no
network features; the page's script (see `hashattack.reporting.page.SCRIPT`) marks `<body>` with
`data-images-total`, `data-images-broken` and `data-tables` once loaded, read back from the DOM.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from hashattack.errors import InputError

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=10000")


def find_chromium() -> str | None:
    """The Chromium executable: $HASHATTACK_CHROMIUM, else `chromium` or `chromium-browser` on PATH."""
    explicit = os.environ.get("HASHATTACK_CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(html_path: str | Path, screenshot: str | Path | None = None, width: int = 1200, height: int = 2400,
           timeout: float = 120) -> dict[str, int]:
    """Load `html_path` in headless Chromium; optionally save a PNG screenshot of width×height.

    Returns the `data-*` attributes the page set on `<body>` after loading, as integers
    (empty when the page's script did not run).
    """
    chromium = find_chromium()
    if chromium is None:
        raise InputError("Chromium not found: install the Debian packages chromium and chromium-driver "
                         "(or set HASHATTACK_CHROMIUM)")
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="hashattack-chromium-") as profile:
        base = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        dom = _run(base + ["--dump-dom", url], timeout).stdout
        if screenshot is not None:
            target = Path(screenshot).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            _run(base + [f"--screenshot={target}", url], timeout)
            if not target.is_file():
                raise InputError(f"Chromium wrote no screenshot to {target}")
    body = re.search(r"<body([^>]*)>", dom)
    attrs = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1))) if body else {}
    return {name: int(value) for name, value in attrs.items()}


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputError(f"Chromium did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"Chromium failed (exit {done.returncode}): {last}")
    return done


__all__ = ["render", "find_chromium"]
