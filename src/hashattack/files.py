"""Atomic file writes, so a killed run never leaves a half-written result behind, confined to the
run folder being written, and strict JSON.

Every JSON file hashattack writes is strict JSON (no bare `NaN` or `Infinity`): a value that is not
a finite number is written as `null`. Where that happens it is documented with the field (a PSNR of
`null` means the two images are identical, i.e. an infinite PSNR; a mean over no queries is `null`).

Confinement: a write whose path lies below a run folder (one given as `inside=`, or one whose lock
this process holds, see `write_root`) is made through that folder's own file descriptors: every
sub-folder between the run folder and the file is opened without following symbolic links (and made
when missing), the temporary file is created with O_EXCL | O_NOFOLLOW, and a path with `..` is
refused. A sub-folder that is a symbolic link (or not a folder) is refused with one line, so nothing
is ever written through it out of the run folder.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hashattack.errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)
_ROOTS: list[Path] = []   # the run folders this process writes (their locks are held), innermost last
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def write_root(folder: str | os.PathLike) -> None:
    """Confine every later write below `folder` to it (until `release_root`); `run_lock.RunLock` calls it."""
    _ROOTS.append(Path(folder).absolute())


def release_root(folder: str | os.PathLike) -> None:
    root = Path(folder).absolute()
    if root in _ROOTS:
        _ROOTS.reverse()
        _ROOTS.remove(root)
        _ROOTS.reverse()


@contextmanager
def confined(folder: str | os.PathLike):
    """`with confined(folder):` every write below `folder` stays in it."""
    write_root(folder)
    try:
        yield
    finally:
        release_root(folder)


def _root_of(path: Path, inside) -> Path | None:
    if inside is not None:
        return Path(inside).absolute()
    parts = path.absolute().parts
    candidates = [r for r in _ROOTS if parts[:len(r.parts)] == r.parts and len(parts) > len(r.parts)]
    return max(candidates, key=lambda r: len(r.parts)) if candidates else None


def relative_inside(path: str | os.PathLike, root: str | os.PathLike) -> tuple[str, ...]:
    """The parts of `path` below `root` (both as written, nothing resolved); InputError when `path` is
    not below `root` or climbs with `..`."""
    parts, top = Path(path).absolute().parts, Path(root).absolute().parts
    below = parts[len(top):]
    if parts[:len(top)] != top or not below or any(p in ("..", ".") for p in below):
        raise InputError(f"{path}: outside the run folder {root}; hashattack writes only inside the folder it was "
                         f"given")
    return below


def confined_name(name: str, what: str) -> str:
    """`name` (a relative path read from a file) when it names something inside its folder: relative,
    no `..`, no empty or hidden part; else InputError naming `what`."""
    text = str(name)
    parts = text.split("/") if text else ()
    if not parts or text.startswith("/") or "\\" in text or "\0" in text or \
            any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise InputError(f"{what}: {text[:80]!r} does not name a file inside the folder "
                         f"(relative, without '..', absolute paths or hidden names)")
    return text


def _refused(folder: str, root: Path) -> InputError:
    try:
        kind = "a symbolic link" if stat.S_ISLNK(os.lstat(folder).st_mode) else "not a folder"
    except OSError:
        kind = "not a folder"
    return InputError(f"{folder}: {kind} inside the run folder {root}; hashattack writes nothing through it "
                      f"(remove it, or use another run folder)")


def _open_child(part: str, fd: int, where: Path, root: Path, create: bool) -> int:
    """Sub-folder `part` of folder `fd`, opened without following a link (made first when missing and `create`)."""
    for attempt in (0, 1):
        try:
            return os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
        except FileNotFoundError:
            if not create or attempt:
                raise
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):   # a file or a symbolic link where a folder should be
                raise _refused(str(where), root) from None
            raise OSError(exc.errno, exc.strerror or str(exc), str(where)) from None
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(where))


def open_folder(path: str | os.PathLike, root: str | os.PathLike, create: bool = True) -> int:
    """A file descriptor of folder `path` below `root` (or `root` itself), each sub-folder opened without
    following symbolic links and made when missing (`create`); InputError at a link or a file."""
    root = Path(root)
    below = () if Path(path).absolute() == root.absolute() else relative_inside(path, root)
    if create:
        root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    where = root
    try:
        for part in below:
            where = where / part
            child = _open_child(part, fd, where, root, create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def atomic_write_bytes(path: str | os.PathLike, data: bytes, inside: str | os.PathLike | None = None) -> None:
    """Write `data` to `path` through a temporary file: write, fsync, rename, fsync the folder.

    Below a run folder (`inside`, or a folder whose lock this process holds) the write is confined to it
    (see the module's docstring)."""
    path = Path(path)
    root = _root_of(path, inside)
    if root is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        relative_inside(path, root)
        folder = open_folder(path.parent, root)
    tmp = None
    try:
        for _ in range(100):
            name = f".{path.name}.{secrets.token_hex(4)}.tmp"
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o666 & ~_UMASK, dir_fd=folder)
            except FileExistsError:
                continue
            tmp = name
            break
        else:
            raise FileExistsError(17, "no free temporary name", str(path))
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        tmp = None
        try:
            os.fsync(folder)
        except OSError:
            pass
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=folder)
            except OSError:
                pass
        if isinstance(exc, OSError) and exc.errno is not None:   # name the file meant, not the temporary one
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    finally:
        os.close(folder)


def remove_stale_temporaries(root: str | os.PathLike, folders: tuple[str, ...] = (".",), recursive: bool = False) -> None:
    """Delete the `.*.tmp` files a killed write left in `root`'s `folders` (and their sub-folders when
    `recursive`), never following a symbolic link: a linked folder is skipped, a linked entry is unlinked."""
    for name in folders:
        start = Path(root) if name == "." else Path(root) / name
        try:
            fd = open_folder(start, root, create=False)
        except (InputError, OSError):
            continue
        try:
            for _, _, entries, dir_fd in os.fwalk(".", dir_fd=fd, follow_symlinks=False):
                for entry in entries:
                    if entry.startswith(".") and entry.endswith(".tmp"):
                        try:
                            os.unlink(entry, dir_fd=dir_fd)
                        except OSError:
                            pass
                if not recursive:
                    break
        finally:
            os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str, inside: str | os.PathLike | None = None) -> None:
    """Write text (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), inside)


def finite_or_null(obj: Any) -> Any:
    """`obj` with every float that is not finite (NaN, ±inf) replaced by None, in lists, tuples and dicts."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_or_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(value) for value in obj]
    return obj


def strict_json(obj: Any, **options) -> str:
    """`json.dumps` of `obj` as strict JSON: non-finite floats become null (`finite_or_null`), and
    `allow_nan=False` guards that nothing else slips through."""
    return json.dumps(finite_or_null(obj), allow_nan=False, **options)


def atomic_write_json(path: str | os.PathLike, obj: Any, inside: str | os.PathLike | None = None) -> None:
    """Write `obj` as indented, key-sorted strict JSON atomically (byte-identical for equal objects)."""
    atomic_write_text(path, strict_json(obj, indent=2, sort_keys=True) + "\n", inside)
