"""`run.lock`: one process at a time writes a run folder.

The lock is an exclusive `fcntl.flock` on `<folder>/run.lock`, which holds the holder's pid, host
and start time so a refused process can name it. The kernel drops a flock when its holder dies
(`kill -9` included), so a lock file left by a dead process is taken over without asking; the
holder deletes the file when it lets go. A second process (with or without `--force`) is refused
with one line naming the holder, never let in to race the first. The lock file is opened without
following a symbolic link, and a `run.lock` that is not a regular file is refused in one line. While
the lock is held every write below the folder is confined to it (`files.write_root`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import time
from pathlib import Path

from hashattack.errors import InputError
from hashattack.files import release_root, write_root
from hashattack.run_format import LOCK_FILE
from hashattack.validation import parse_text


def _holder(fd: int) -> str:
    """Who holds the lock file open as `fd`, as it tells (the holder may not have written it yet)."""
    try:
        info = parse_text("json", os.pread(fd, 4096, 0).decode("utf-8", "replace"), LOCK_FILE, "lock")
        return f"pid {int(info['pid'])} on host {info['host']} since {info['started']}"
    except (OSError, InputError, ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """The exclusive lock of one run folder; `acquire()` raises InputError when another process holds it."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (a no-op when this object holds it already); the folder must exist."""
        while self._fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP):
                    raise
                raise self._not_a_lock() from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise self._not_a_lock()
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise InputError(f"run folder {self.path.parent} is in use by {holder} ({self.path}); "
                                 f"wait for that run to finish, or use another run folder") from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.lstat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:   # the previous holder deleted the file between our open and our lock: try again
                os.close(fd)
                continue
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(info) + "\n").encode())
            self._fd = fd
            write_root(self.path.parent)

    def _not_a_lock(self) -> InputError:
        return InputError(f"{self.path}: not a regular file (a symbolic link, a folder or a device), so not a lock "
                          f"hashattack wrote; remove it, or use another run folder")

    def release(self) -> None:
        """Delete the lock file and let go (a no-op when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None
            release_root(self.path.parent)


__all__ = ["RunLock", "LOCK_FILE"]
