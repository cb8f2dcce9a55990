"""`run.lock`: one process at a time writes a run folder.

The lock is an exclusive `fcntl.flock` on `<folder>/run.lock`, which holds the holder's pid, host
and start time so a refused process can name it. The kernel drops a flock when its holder dies
(`kill -9` included), so a lock file left by a dead process is taken over without asking; the
holder deletes the file when it lets go. A second process (with or without `--force`) is refused
with one line naming the holder, never let in to race the first.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from hashattack.errors import InputError

LOCK_FILE = "run.lock"


def _holder(path: Path) -> str:
    """Who holds the lock at `path`, as its file tells (the holder may not have written it yet)."""
    try:
        info = json.loads(path.read_text())
        return f"pid {int(info['pid'])} on host {info['host']} since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
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
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InputError(f"run folder {self.path.parent} is in use by {_holder(self.path)} ({self.path}); "
                                 f"wait for that run to finish, or use another run folder") from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
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


__all__ = ["RunLock", "LOCK_FILE"]
