"""An exclusive lock on a folder, so that no two processes work in it at once (a cell, a shipped task)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from yololab.atomic import confined_folder, open_nofollow


@contextlib.contextmanager
def folder_lock(folder: Path, top: Path) -> Iterator[int | None]:
    """An exclusive flock on ``folder/.lock``, released when the holder exits or dies (even by SIGKILL).
    ``folder`` lies below ``top`` and is made there if missing, never through a symbolic link.

    Yields None when acquired, else the pid recorded by the process that holds it.
    """
    confined_folder(folder, top)
    with os.fdopen(open_nofollow(folder / ".lock", os.O_RDWR, folder), "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            text = handle.read().strip()
            yield int(text) if text.isdigit() else -1
            return
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
