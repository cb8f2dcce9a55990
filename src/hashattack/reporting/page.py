"""One report page written twice: as Markdown (relative links to the PNG files) and as a
self-contained HTML page (figures embedded as base64 data URIs, no network).

Whatever text comes from a file (a setting, a label, a file name) is escaped in both: HTML's `&`,
`<` and `>` (Markdown renderers pass raw HTML through), and `|` in Markdown table cells. A figure
is embedded only when it is a regular file that resolves inside the page's folder (a symlink out
of the folder, a device, a FIFO or a file over `MAX_FIGURE_BYTES` is named, never read). A table
cell or paragraph longer than `MAX_CELL` / `MAX_PARAGRAPH` characters is cut, the cut said in it.
Links are relative, inside the folder and percent-encoded (`:` too), so a folder named
`javascript:...` is a path, never a URL scheme.

Once loaded, the HTML page's script marks `<body>` with `data-images-total`,
`data-images-broken` and `data-tables` (table rows), so a headless browser can check that
every picture decoded (see `hashattack.reporting.browser`).
"""

from __future__ import annotations

import base64
import html
import stat
from pathlib import Path
from urllib.parse import quote

from hashattack.files import atomic_write_text, confined_name
from hashattack.reporting.tables import markdown
from hashattack.run_format import REPORT_HTML, REPORT_MD

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


MAX_CELL = 2000              # characters of one table cell
MAX_PARAGRAPH = 20000        # characters of one paragraph
MAX_FIGURE_BYTES = 32 * 2**20


def bounded(text, limit: int = MAX_CELL) -> str:
    """`text` as a string of at most about `limit` characters, the cut said at its end."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… (cut: {len(text)} characters)"


def href(rel: str) -> str:
    """A link target for a file inside the page's folder: relative and percent-encoded (a `:` included, so
    no part reads as a URL scheme such as `javascript:`)."""
    return quote(confined_name(rel, "report link"), safe="/")


def md_text(text) -> str:
    """Text for Markdown with raw HTML made inert (`<script>` shows as text), on one line."""
    return html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")


def md_cell(text) -> str:
    """`md_text` for a Markdown table cell (a `|` would start another cell)."""
    return md_text(text).replace("|", "\\|")


def inside_regular_file(path: Path, root: Path) -> bool:
    """Whether `path` resolves to a regular file inside `root` (symlinks followed, then checked)."""
    try:
        real = path.resolve(strict=True)
        return real.is_relative_to(root.resolve(strict=True)) and stat.S_ISREG(real.stat().st_mode)
    except (OSError, RuntimeError):
        return False


class Page:
    """Collects a report's parts in order, then writes `report.md` and `report.html` into `root`."""

    def __init__(self, root: Path, title: str):
        self.root, self.title, self.md, self.html = Path(root), title, [], []
        self.heading(title, 1)

    def heading(self, text: str, level: int = 2) -> None:
        self.md.append(f"{'#' * level} {md_text(text)}\n")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        text = bounded(text, MAX_PARAGRAPH)
        self.md.append(md_text(text) + "\n")
        self.html.append(f"<p>{html.escape(text)}</p>")

    def link(self, text: str, path: Path) -> None:
        """A paragraph linking to a file below the page's folder (relative, so the folder can move)."""
        target = href(path.relative_to(self.root).as_posix())
        self.md.append(f"[{md_text(text)}]({md_text(target)})\n")
        self.html.append(f'<p><a href="{html.escape(target)}">{html.escape(text)}</a></p>')

    def table(self, header: list[str], body: list[list[str]], css: str = "") -> None:
        header, body = [bounded(c) for c in header], [[bounded(c) for c in row] for row in body]
        self.md.append(markdown([md_cell(c) for c in header], [[md_cell(c) for c in row] for row in body]))
        cells = lambda row, tag: "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)
        rows = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in body)
        self.html.append(f'<table class="{css}"><thead><tr>{cells(header, "th")}</tr></thead><tbody>{rows}</tbody></table>')

    def figure(self, path: Path, caption: str) -> None:
        """A PNG figure below the page's folder: embedded when it is a regular file inside it, else named."""
        rel = path.relative_to(self.root).as_posix()
        if not inside_regular_file(path, self.root):
            self.paragraph(f"Figure {rel} not shown: not a regular file inside {self.root.name}/.")
            return
        with open(path, "rb") as handle:
            data = handle.read(MAX_FIGURE_BYTES + 1)
        if len(data) > MAX_FIGURE_BYTES:
            self.paragraph(f"Figure {rel} not shown: larger than {MAX_FIGURE_BYTES // 2**20} MiB.")
            return
        self.md.append(f"![{md_text(caption)}]({md_text(href(rel))})\n\n*{md_text(caption)}*\n")
        data = base64.b64encode(data).decode("ascii")
        self.html.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                         f"<figcaption>{html.escape(rel)}: {html.escape(caption)}</figcaption></figure>")

    def write(self) -> tuple[Path, Path]:
        """Write report.md and report.html; returns their paths."""
        md_path, html_path = self.root / REPORT_MD, self.root / REPORT_HTML
        atomic_write_text(md_path, "\n".join(self.md), inside=self.root)
        atomic_write_text(html_path, f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                                     f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head>\n<body>\n"
                                     + "\n".join(self.html) + f"\n<script>{SCRIPT}</script>\n</body></html>\n",
                          inside=self.root)
        return md_path, html_path


__all__ = ["Page", "CSS", "SCRIPT", "md_text", "md_cell", "inside_regular_file", "bounded", "href", "MAX_CELL"]
