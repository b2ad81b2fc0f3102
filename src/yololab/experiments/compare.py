"""``run_compare``: train and score every cell of an experiment, then time them and write the report.

The spec is planned once (``plan``: every cell with its variant, TrainConfig and folder); the run is
then the :data:`~yololab.experiments.phases.PHASES` in order, the cells on the executor the settings name.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from yololab.experiments.phases import PHASES, ComparisonRun
from yololab.experiments.plan.comparison_plan import SpecSource, plan_comparison
from yololab.experiments.results.records import CellResult
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.results.status import CellOutcome

LOG = logging.getLogger("yololab")


@dataclass
class CompareResult:
    out_dir: Path
    rows: list[CellResult]                # one per cell (status done / failed / interrupted / pending)
    outcomes: list[CellOutcome] = field(default_factory=list)  # what this run did per cell
    report: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[CellResult]:
        return [r for r in self.rows if not r.done]


def run_compare(spec: SpecSource, out_dir: str | Path, settings: RunSettings | None = None) -> CompareResult:
    """Run (or continue) the comparison in ``out_dir`` and write its report.

    Re-running skips cells with metrics.json and resumes those with weights/last.pt.
    """
    settings = settings or RunSettings()
    run = ComparisonRun(plan_comparison(spec, out_dir, settings), settings)
    for phase in PHASES:
        phase(run)
    done = sum(r.done for r in run.rows)
    LOG.info("%d/%d cells done in %.0f s; report: %s", done, len(run.rows), time.perf_counter() - run.started,
             run.report.get("html", run.plan.out))
    return CompareResult(run.plan.out, run.rows, run.outcomes, run.report)
