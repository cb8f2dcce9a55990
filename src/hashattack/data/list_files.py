"""List files, the HashNet / DHTA format of every split: one object per line, `path l_1 ... l_C`.

Labels are one 0/1 value per class (multi-hot); an image list may also give one class index
per line (`path 7`, `class_index=True`). Blank lines and lines starting with `#` are skipped.
Paths are relative to a root folder (default: the list file's own) or absolute. When the
number of classes is known, a path may contain spaces (the labels are the last C fields).
Files are UTF-8; a byte-order mark at the start is skipped.

Quoting: a path (or a class name in a names file) that holds whitespace, a `"`, a `\\`, a
character that is not printable, or that starts with `#`, is written as a JSON string: in double
quotes, with `\\"`, `\\\\`, `\\n`, `\\t`, `\\uXXXX` escapes (`"my photos/a\\tb.jpg" 0 1`). The
reader takes a line that starts with `"` that way, so every name the writer lists, newlines
included, reads back as it was; other names are written as they are (HashNet's format).

Without a number of classes, a class index above `MAX_CLASSES` is refused (it would size the
label matrix). Every mistake is one line naming the file and line. The one writer is atomic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.files import atomic_write_text
from hashattack.validation import MAX_CLASSES, MAX_LABEL_CELLS, check_count, line_error, read_text


def quote(name: str) -> str:
    """`name` as a list file stores it: as is, or a JSON string when it needs quoting (module docstring)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:   # undecodable bytes of a file name (surrogate escapes): \udcXX
        return json.dumps(name, ensure_ascii=True)
    if name and name.isprintable() and not name.startswith("#") and not any(c.isspace() or c in '"\\' for c in name):
        return name
    return json.dumps(name, ensure_ascii=not name.isprintable())   # line breaks of any kind as \uXXXX


def _unquote(text: str, source: str | Path, line: int) -> tuple[str, str]:
    """A line starting with a JSON string -> (the string, the rest of the line)."""
    try:
        name, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise line_error(source, line, f"the quoted path is not a valid JSON string ({exc.msg} at column "
                                       f"{exc.pos + 1})") from None
    if not isinstance(name, str) or (end < len(text) and not text[end].isspace()):
        raise line_error(source, line, "a quoted path must be one JSON string followed by a space")
    return name, text[end:]


def _split(text: str, source: str | Path, line: int, num_classes: int | None = None) -> tuple[str, list[str]]:
    """A line -> (path, label fields); with `num_classes` known the path is all before the last C fields."""
    text = text.strip()
    if text.startswith('"'):
        path, rest = _unquote(text, source, line)
        values = rest.split()
        if not values:
            raise line_error(source, line, "no labels after the path; expected `path l_1 ... l_C` with 0/1 labels")
        return path, values
    fields = text.split()
    if not fields:
        raise line_error(source, line, "empty line; expected `path l_1 ... l_C`")
    if num_classes is None:
        path, values = fields[0], fields[1:]
    else:
        path, *values = text.strip().rsplit(maxsplit=num_classes)
        if len(path.split()) > 1 and path.split()[-1] in ("0", "1"):   # more labels than classes
            raise line_error(source, line, f"{len(fields) - 1} labels after the path, expected {num_classes}")
    if not values:
        raise line_error(source, line, "no labels after the path; expected `path l_1 ... l_C` with 0/1 labels")
    return path, values


def _multi_hot(values: Sequence[str], source: str | Path, line: int) -> list[int]:
    """Label fields -> 0/1 ints; refuses other values and an all-zero vector."""
    bad = [v for v in values if v not in ("0", "1")]
    if bad:
        raise line_error(source, line, f"labels must be 0 or 1, got {bad[0]!r}")
    labels = [int(v) for v in values]
    if not any(labels):
        raise line_error(source, line, "the label vector is all zeros; every object needs at least one label")
    return labels


def _listed_path(entry: str, root: Path, source: Path, line: int, kind: str) -> Path:
    """The file a line names (relative paths are taken under `root`); refuses a missing one."""
    full = root / entry
    if kind == "image" and full.is_dir():
        raise line_error(source, line, f"{full} is a folder, not an image file")
    if not (full.is_file() if kind == "image" else full.exists()):
        raise line_error(source, line, f"{kind} {full} does not exist (paths are relative to {root})")
    return full


def _class_index(value: str, source: Path, line: int, num_classes: int | None) -> int:
    top = num_classes - 1 if num_classes else MAX_CLASSES - 1
    if not (value.isascii() and value.isdigit()) or int(value) > top:
        limit = "" if num_classes else f" (without a number of classes at most {top}; give the number of classes)"
        raise line_error(source, line, f"class index {value!r} is not an integer in 0..{top}{limit}")
    return int(value)


def read_text_lines(path: Path, what: str = "list file") -> list[str]:
    """The lines of a UTF-8 text file (a regular file, size bounded, a leading byte-order mark skipped);
    one-line errors naming it."""
    return read_text(path, what).split("\n")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank, non-comment line of a list file."""
    lines = read_text_lines(path)
    return [(n, text) for n, text in enumerate(lines, start=1) if text.strip() and not text.lstrip().startswith("#")]


def read_list_file(path: str | Path, root: str | Path | None = None, num_classes: int | None = None,
                   check_files: bool = True, class_index: bool = False,
                   kind: str = "image") -> tuple[list[Path], torch.Tensor]:
    """A list file -> (paths under `root`, uint8 labels (n, C)).

    Without `num_classes` the first line sets C. `class_index` reads a file whose first line
    has one label (and C != 1) as class indices. `check_files` refuses a path that does not exist.
    """
    path = Path(path)
    if num_classes is not None:
        check_count(num_classes, f"{path}: the number of classes", MAX_CLASSES, low=1)
    root = Path(root) if root is not None else path.parent
    paths, rows, width, index_form = [], [], num_classes, False
    for number, text in _read_lines(path):
        entry, values = _split(text, path, number, width)
        if not rows and class_index and len(values) == 1 and num_classes != 1:
            index_form, width = True, 1
        if width is None:
            width = len(values)
        elif len(values) != width:
            expected = f"expected {num_classes}" if num_classes is not None and not index_form \
                else f"but the first line has {width}"
            raise line_error(path, number, f"{len(values)} labels, {expected}")
        if index_form:
            rows.append(_class_index(values[0], path, number, num_classes))
        else:
            rows.append(_multi_hot(values, path, number))
        paths.append(_listed_path(entry, root, path, number, kind) if check_files else root / entry)
    if not paths:
        raise InputError(f"list file {path} holds no {kind}s")
    if index_form:
        classes = torch.tensor(rows)
        width = num_classes or int(classes.max()) + 1
        if len(rows) * width > MAX_LABEL_CELLS:
            raise InputError(f"{path}: {len(rows):,} {kind}s x {width:,} classes is more than {MAX_LABEL_CELLS:,} "
                             "labels; give fewer classes")
        labels = torch.zeros(len(rows), width, dtype=torch.uint8)
        labels[torch.arange(len(rows)), classes] = 1
        return paths, labels
    return paths, torch.tensor(rows, dtype=torch.uint8)


def write_list_file(path: str | Path, paths: Sequence[str | Path], labels: np.ndarray | torch.Tensor,
                    root: str | Path | None = None) -> Path:
    """Write `path l_1 ... l_C` lines atomically; paths under `root` are written relative to it (posix),
    quoted when they need it (module docstring), so `read_list_file` reads every one back."""
    lines = []
    for entry, row in zip(paths, np.asarray(labels)):
        entry = Path(entry)
        if root is not None and entry.is_relative_to(root):
            entry = entry.relative_to(root)
        lines.append(f"{quote(entry.as_posix())} {' '.join(str(int(v)) for v in row)}\n")
    atomic_write_text(path, "".join(lines))
    return Path(path)


def write_names(path: str | Path, names: Sequence[str]) -> Path:
    """A names file (`classes.txt`): one class name per line (quoted when it needs it), atomically."""
    atomic_write_text(path, "".join(f"{quote(str(name))}\n" for name in names))
    return Path(path)


def read_names(path: str | Path, what: str = "names file") -> list[str]:
    """The class names of a names file: blank lines skipped, a bare name stripped, a line starting
    with `"` a quoted name (kept exactly)."""
    path, names = Path(path), []
    for number, line in enumerate(read_text_lines(path, what), start=1):
        text = line.strip()
        if not text:
            continue
        if not text.startswith('"'):   # a bare name: the writer quotes names with surrounding spaces
            names.append(text)
            continue
        name, rest = _unquote(text, path, number)
        if rest.strip():
            raise line_error(path, number, "a quoted name must be alone on its line")
        names.append(name)
    return names


__all__ = ["read_list_file", "write_list_file", "write_names", "read_names", "read_text_lines", "quote", "MAX_CLASSES"]
