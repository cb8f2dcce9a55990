"""List files, the HashNet / DHTA format of every split: one object per line, `path l_1 ... l_C`.

Labels are one 0/1 value per class (multi-hot); an image list may also give one class index
per line (`path 7`, `class_index=True`). Blank lines and lines starting with `#` are skipped.
Paths are relative to a root folder (default: the list file's own) or absolute. When the
number of classes is known, a path may contain spaces (the labels are the last C fields).
Every mistake is one line naming the file and line. The one writer is atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.files import atomic_write_text
from hashattack.validation import line_error


def _split(text: str, source: str | Path, line: int, num_classes: int | None = None) -> tuple[str, list[str]]:
    """A line -> (path, label fields); with `num_classes` known the path is all before the last C fields."""
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
    if not (full.is_file() if kind == "image" else full.exists()):
        raise line_error(source, line, f"{kind} {full} does not exist (paths are relative to {root})")
    return full


def _class_index(value: str, source: Path, line: int, num_classes: int | None) -> int:
    top = f"{num_classes - 1}" if num_classes else "C-1"
    if not value.isdigit() or (num_classes is not None and int(value) >= num_classes):
        raise line_error(source, line, f"class index {value!r} is not an integer in 0..{top}")
    return int(value)


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank, non-comment line of a UTF-8 text file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"list file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read list file ({exc})") from None
    return [(n, text) for n, text in enumerate(lines, start=1) if text.strip() and not text.lstrip().startswith("#")]


def read_list_file(path: str | Path, root: str | Path | None = None, num_classes: int | None = None,
                   check_files: bool = True, class_index: bool = False,
                   kind: str = "image") -> tuple[list[Path], torch.Tensor]:
    """A list file -> (paths under `root`, uint8 labels (n, C)).

    Without `num_classes` the first line sets C. `class_index` reads a file whose first line
    has one label (and C != 1) as class indices. `check_files` refuses a path that does not exist.
    """
    path = Path(path)
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
        labels = torch.zeros(len(rows), num_classes or int(classes.max()) + 1, dtype=torch.uint8)
        labels[torch.arange(len(rows)), classes] = 1
        return paths, labels
    return paths, torch.tensor(rows, dtype=torch.uint8)


def write_list_file(path: str | Path, paths: Sequence[str | Path], labels: np.ndarray | torch.Tensor,
                    root: str | Path | None = None) -> Path:
    """Write `path l_1 ... l_C` lines atomically; paths under `root` are written relative to it (posix)."""
    lines = []
    for entry, row in zip(paths, np.asarray(labels)):
        entry = Path(entry)
        if root is not None and entry.is_relative_to(root):
            entry = entry.relative_to(root)
        if "\n" in str(entry):
            raise InputError(f"cannot list {entry!r}: a path in a list file cannot hold a line break")
        lines.append(f"{entry.as_posix()} {' '.join(str(int(v)) for v in row)}\n")
    atomic_write_text(path, "".join(lines))
    return Path(path)


def write_names(path: str | Path, names: Sequence[str]) -> Path:
    """A names file (`classes.txt`): one class name per line, atomically."""
    atomic_write_text(path, "".join(f"{name}\n" for name in names))
    return Path(path)


def read_names(path: str | Path) -> list[str]:
    """The class names of a names file (blank lines skipped)."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


__all__ = ["read_list_file", "write_list_file", "write_names", "read_names"]
