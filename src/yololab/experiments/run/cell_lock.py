"""An exclusive lock on a cell folder, so that no two processes run one cell at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from yololab.atomic import confined_folder, open_nofollow
from yololab.experiments.plan.layout import CellPaths


@contextlib.contextmanager
def cell_lock(paths: CellPaths) -> Iterator[int | None]:
    """An exclusive flock on the cell folder, released when the holder exits or dies (even by SIGKILL).

    Yields None when acquired, else the pid recorded by the process that holds it.
    """
    confined_folder(paths.root, paths.root.parent.parent)  # out/cells/<id>: never a link elsewhere
    with os.fdopen(open_nofollow(paths.root / ".lock", os.O_RDWR, paths.root), "r+") as handle:
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
