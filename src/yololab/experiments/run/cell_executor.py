"""The one interface of every executor: ``run(cells, on_result)``; the registry is in ``executors``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from yololab.experiments.plan.spec import Cell
from yololab.experiments.results.status import CellOutcome

if TYPE_CHECKING:
    from yololab.experiments.plan.comparison_plan import ComparisonPlan, ResolvedCell
    from yololab.experiments.plan.run_settings import RunSettings

OnResult = Callable[[Cell, CellOutcome], None]


class CellExecutor(Protocol):
    """Runs cells (through ``run_cell``, which never raises for a failing cell) and reports every outcome
    through ``on_result`` as it arrives; a worker that dies is a failed outcome of its cell(s)."""

    def run(self, cells: Sequence[ResolvedCell], on_result: OnResult) -> None: ...


ExecutorFactory = Callable[["ComparisonPlan", "RunSettings"], CellExecutor]
