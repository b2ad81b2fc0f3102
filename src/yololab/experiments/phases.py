"""The phases of a comparison run, in order (:data:`PHASES`); each reads the run so far and adds to it.

(0) A cell folder that is a link elsewhere is refused before anything is written; protocol.json is
written, or the folder refused when its protocol differs; tuning, when the spec asks for it, chooses
each entry's values before the seeds train; a cell folder made with other settings is refused; experiment.yaml and run.json are written. (1) The cells train and are scored
(finished ones skipped, interrupted ones resumed, failures recorded) on the plan's executor.
(2) Latency of every finished cell, one at a time (``bench_cells``). (3) Rows, then tables, plots
and report.html.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yololab.atomic import confined_folder
from yololab.config import ConfigError
from yololab.experiments.score.bench_cells import run_benchmarks
from yololab.experiments.plan.cell_config import cell_state, check_same_config, config_fingerprint
from yololab.experiments.plan.comparison_plan import ComparisonPlan
from yololab.experiments.plan.protocol_card import check_and_write_protocol
from yololab.experiments.results.records import CellResult
from yololab.experiments.report.rows import collect_rows
from yololab.experiments.run.cells import run_cells
from yololab.experiments.run.run_info import write_run_info
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import Cell
from yololab.experiments.results.status import CellOutcome, CellStatus

LOG = logging.getLogger("yololab")


@dataclass
class ComparisonRun:
    """A comparison being run: its plan (tuning replaces it by the tuned cells' plan) and what the phases made."""

    plan: ComparisonPlan
    settings: RunSettings
    outcomes: list[CellOutcome] = field(default_factory=list)  # what this run did per cell
    rows: list[CellResult] = field(default_factory=list)             # one per cell, from its folder
    report: dict[str, Path] = field(default_factory=dict)      # the report's files by kind
    started: float = field(default_factory=time.perf_counter)  # when the cells started


Phase = Callable[[ComparisonRun], None]


def confine_cell_folders(run: ComparisonRun) -> None:
    """A cell folder that is a symbolic link (or a file) is refused before any file of the run is written."""
    for cell in run.plan.cells:
        confined_folder(cell.paths.root, run.plan.out, create=False)


def write_protocol(run: ComparisonRun) -> None:
    from yololab.data.source import dataset_pixels

    check_and_write_protocol(run.plan, dataset_pixels(run.plan.spec.data).channels)


def tune_entries(run: ComparisonRun) -> None:
    """An equal tuning budget per entry; every seed then trains with its entry's chosen values."""
    plan = run.plan
    if plan.spec.tune is None:
        return
    from yololab.experiments.tuning.apply import tuned_cells
    from yololab.experiments.report.tuning_report import record_studies
    from yololab.experiments.tuning.study import run_tuning

    tuning = run_tuning(plan, run.settings.train_fn)
    run.plan = plan.with_cells(tuned_cells([c.cell for c in plan.cells], tuning))
    record_studies(plan.out, tuning)


def refuse_other_settings(run: ComparisonRun) -> None:
    """Refuse to mix results: a cell folder made with other settings (epochs, hyp, ...) is an error."""
    check_same_settings(run.plan)


def check_same_settings(plan: ComparisonPlan) -> None:
    stale = []
    for cell in plan.cells:
        try:
            check_same_config(cell.paths, config_fingerprint(cell.config, plan.spec))
        except ConfigError:
            stale.append(cell.cell_id)
    if stale:
        raise ConfigError(f"{plan.out} holds cell(s) {', '.join(stale)} run with different settings; use another "
                          f"--out folder (or delete those cell folders to re-run them)")


def record_run(run: ComparisonRun) -> None:
    write_run_info(run.plan, run.settings)


def train_cells(run: ComparisonRun) -> None:
    """Every cell not done yet, on the plan's executor; each outcome logged as it arrives."""
    plan = run.plan
    todo = [c for c in plan.cells if cell_state(c.paths) != CellStatus.DONE]
    LOG.info("%s: %d cell(s), %d finished already, %d to run (%s executor, devices %s) -> %s", plan.spec.name,
             len(plan.cells), len(plan.cells) - len(todo), len(todo), plan.executor, ",".join(plan.spec.devices),
             plan.out)
    if plan.spec.robustness is not None and todo:
        LOG.info("%s", plan.spec.robustness.cost_line(len(todo)))
    run.started = time.perf_counter()

    def on_result(cell: Cell, outcome: CellOutcome) -> None:
        run.outcomes.append(outcome)
        extra = f": {outcome.error}" if outcome.error else ""
        LOG.info("[%d/%d] %s %s in %.0f s (%.0f s elapsed)%s", len(run.outcomes), len(todo), cell.cell_id,
                 outcome.status, outcome.seconds, time.perf_counter() - run.started, extra)

    if todo:
        run_cells(plan, run.settings, todo, on_result)


def time_cells(run: ComparisonRun) -> None:
    if run.settings.bench:
        run_benchmarks(run.plan)


def collect_cell_rows(run: ComparisonRun) -> None:
    plan = run.plan
    slicing = plan.spec.slicing
    run.rows = collect_rows(plan.out, [c.cell for c in plan.cells], plan.spec.whole_model_weights,
                            ablation=slicing is not None and slicing.ablation)


def render_report(run: ComparisonRun) -> None:
    if run.settings.report:
        from yololab.experiments.report.writer import write_report

        run.report = write_report(run.plan.spec, run.plan.out, run.rows)


PHASES: tuple[Phase, ...] = (confine_cell_folders, write_protocol, tune_entries, refuse_other_settings, record_run,
                             train_cells, time_cells, collect_cell_rows, render_report)
