"""An exclusive lock on a cell folder, so that no two processes run one cell at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from yololab.experiments.plan.layout import CellPaths
from yololab.experiments.pool.folder_lock import folder_lock


@contextlib.contextmanager
def cell_lock(paths: CellPaths) -> Iterator[int | None]:
    """The folder lock of the cell, out/cells/<id> never a link elsewhere (see ``pool.folder_lock``): None
    when acquired, else the holder's pid."""
    with folder_lock(paths.root, paths.root.parent.parent) as owner:
        yield owner
