"""The 'local' executor: one cell after another in this process, on the first device."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from yololab.experiments.run.cell_executor import OnResult
from yololab.experiments.plan.comparison_plan import ComparisonPlan, ResolvedCell
from yololab.experiments.run.run_cell import run_cell
from yololab.experiments.plan.run_settings import RunSettings

LOG = logging.getLogger("yololab")


class LocalExecutor:
    def __init__(self, plan: ComparisonPlan, settings: RunSettings) -> None:
        self.spec, self.train_fn, self.progress = plan.spec, settings.train_fn, settings.progress

    def run(self, cells: Sequence[ResolvedCell], on_result: OnResult) -> None:
        devices = self.spec.devices
        if len(devices) > 1:
            LOG.warning("local executor: one cell at a time on device %s (use --executor process to run "
                        "one cell per device)", devices[0])
        for cell in cells:
            on_result(cell.cell, run_cell(self.spec, cell, self.train_fn, devices[0], self.progress))
