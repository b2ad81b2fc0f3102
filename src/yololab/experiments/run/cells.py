"""Cells as tasks of the plan's pool (``--executor`` local / process / ray, see ``experiments.pool``).

Each cell is one task: ``run_cell`` on the device entry the pool hands it (``run_cell`` never raises for
a failing cell). On Ray without a shared filesystem the cell's folder and the comparison's scoring
ground truth travel to the node and back (the cell folder locked here meanwhile, metrics.json -- the
done marker -- written last); the data set must be at the driver's path on every node. A task whose
worker dies is a failed outcome of its cell; re-running the comparison resumes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from yololab.experiments.plan.comparison_plan import ComparisonPlan, ResolvedCell
from yololab.experiments.plan.layout import scoring_gt_path
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import Cell, ExperimentSpec
from yololab.experiments.pool import Placement, Shipment, Task, TaskOutcome, open_pool, run_tasks
from yololab.experiments.results.status import CellOutcome
from yololab.experiments.run.run_cell import run_cell
from yololab.train.contract import Trainer

OnResult = Callable[[Cell, CellOutcome], None]


def run_cell_task(placement: Placement, spec: ExperimentSpec, cell: ResolvedCell, trainer: Trainer,
                  progress: bool) -> CellOutcome:
    """One cell where the pool placed it: in the comparison folder, or in a node's copy of it."""
    if placement.root is not None:  # a node-local copy of the comparison folder
        if not Path(spec.data).is_file():
            return CellOutcome.failed(cell.cell_id, f"data YAML {spec.data} not found on this node: every Ray node "
                                                    f"needs the data at the driver's path")
        cell = cell.moved_to(placement.root)
    return run_cell(spec, cell, trainer, placement.device, progress=progress and placement.alone)


def cell_task(plan: ComparisonPlan, settings: RunSettings, cell: ResolvedCell) -> Task[CellOutcome]:
    scoring = scoring_gt_path(plan.out, "val").parent.relative_to(plan.out).as_posix()
    shipment = Shipment(plan.out, cell.paths.root.relative_to(plan.out).as_posix(), (scoring,),
                        done_marker=cell.paths.metrics.name)  # the done marker, written last
    return Task(cell.cell_id, run_cell_task, (plan.spec, cell, settings.train_fn, settings.progress), shipment)


def cell_outcome(outcome: TaskOutcome[CellOutcome]) -> CellOutcome:
    """The cell's outcome as its task ended (a task that failed outside ``run_cell`` fails its cell)."""
    if outcome.ok and outcome.value is not None:
        return dataclasses.replace(outcome.value, node=outcome.node) if outcome.node else outcome.value
    return CellOutcome.failed(str(outcome.key), outcome.error or "the task returned nothing")


def run_cells(plan: ComparisonPlan, settings: RunSettings, cells: Sequence[ResolvedCell], on_result: OnResult) -> None:
    """Every cell on the plan's pool, one per device entry at a time; each outcome reported as it arrives."""
    by_id = {c.cell_id: c.cell for c in cells}
    with open_pool(plan.executor, plan.spec.devices, shared_fs=settings.ray_shared_fs,
                   work_dir=settings.ray_work_dir) as pool:
        run_tasks(pool, [cell_task(plan, settings, c) for c in cells],
                  lambda outcome: on_result(by_id[outcome.key], cell_outcome(outcome)))
