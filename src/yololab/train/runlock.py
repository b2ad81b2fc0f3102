"""One writer per run folder: an exclusive ``flock`` on ``OUT/.train.lock`` held while a run writes OUT.

The kernel drops the lock when its process exits or is killed (SIGKILL included), so a killed run's
folder can be resumed at once; a stale lock file left behind means nothing. The file holds the
holder's pid so that a refused second writer can name it. Under torchrun only rank 0 takes it (the
other ranks write nothing there).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from yololab.atomic import open_nofollow
from yololab.errors import UserError

LOCK_NAME = ".train.lock"


class RunLock:
    """A held run-folder lock; :meth:`release` (or process exit) lets the next writer in."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path, self._handle = path, handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def holder_pid(path: Path) -> int | None:
    """The pid written in a lock file (None when absent or unreadable)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def acquire_run_lock(out: str | os.PathLike) -> RunLock:
    """Lock run folder ``out`` (created if needed) for this process, or raise :class:`UserError` naming
    the process that holds it."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = open_nofollow(path, os.O_RDWR, folder)  # a planted symbolic link is refused, never followed
    handle = os.fdopen(fd, "r+", encoding="utf-8")  # kept open for as long as the lock is held
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        pid = holder_pid(path)
        who = f"process {pid}" if pid is not None else "another process"
        raise UserError(f"run folder {folder} is being written by {who} (lock {path}); wait for it to end, "
                        f"stop it, or train into another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return RunLock(path, handle)
