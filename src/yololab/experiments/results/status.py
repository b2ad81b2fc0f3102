"""One status vocabulary for a cell, and one record of what a run did with it.

:class:`CellStatus` is what a cell folder says (``cell_config.cell_state``), what an executor reports
for one attempt (:class:`CellOutcome`), and what a result row shows. Its values are the strings the
JSON and CSV files have always carried.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CellStatus(enum.StrEnum):
    PENDING = "pending"          # nothing run yet
    INTERRUPTED = "interrupted"  # weights/last.pt: resumable
    TRAINED = "trained"          # trained, scoring pending
    FAILED = "failed"            # the last attempt failed (error.json)
    DONE = "done"                # scored (metrics.json)
    SKIPPED = "skipped"          # an attempt that found the cell done already


@dataclass(frozen=True)
class CellOutcome:
    """What one attempt at a cell did: its status (DONE, SKIPPED or FAILED), wall seconds, the error
    when it failed and, on Ray, the node it ran on."""

    cell_id: str
    status: CellStatus
    seconds: float = 0.0
    error: str | None = None
    node: str | None = None

    @classmethod
    def failed(cls, cell_id: str, error: str, seconds: float = 0.0) -> CellOutcome:
        return cls(cell_id, CellStatus.FAILED, seconds, error)

    @classmethod
    def skipped(cls, cell_id: str) -> CellOutcome:
        return cls(cell_id, CellStatus.SKIPPED)

    @property
    def ok(self) -> bool:
        return self.status in (CellStatus.DONE, CellStatus.SKIPPED)
