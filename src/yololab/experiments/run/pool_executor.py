"""The 'process' executor: a spawn-context process pool with one worker per device entry.

Every cell gets a fresh process (crash isolation; a clean peak-memory measurement on CPU), started on a
free device entry ('0', '1' for GPUs, 'cpu', 'cpu' for CPU workers): this process hands each cell its
device and takes the device back when the cell ends. Progress bars are shown only with a single
worker (several would interleave). A worker that dies breaks the pool: the cells still running or
waiting are recorded as failed, and re-running the comparison resumes them.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from yololab.experiments.run.cell_executor import OnResult
from yololab.experiments.plan.comparison_plan import ComparisonPlan, ResolvedCell
from yololab.experiments.run.run_cell import run_cell
from yololab.experiments.plan.trainers import TrainFn
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import ExperimentSpec
from yololab.experiments.results.status import CellOutcome
from yololab.experiments.run.worker_setup import cpu_threads_per_worker, limit_threads, passive_omp_wait, start_worker

LOG = logging.getLogger("yololab")
WORKER_DIED = ("worker process died (killed, out of memory, or a calling script without "
               "`if __name__ == '__main__':`, which spawned workers need); re-run to resume")


def run_in_worker(spec: ExperimentSpec, cell: ResolvedCell, train_fn: TrainFn | str | None, device: str,
                  threads: int, progress: bool) -> CellOutcome:
    """One cell in a pool worker, on the device this process was handed."""
    limit_threads(device, threads)
    return run_cell(spec, cell, train_fn, device, progress=progress)


class PoolExecutor:
    def __init__(self, plan: ComparisonPlan, settings: RunSettings) -> None:
        self.spec, self.train_fn, self.progress = plan.spec, settings.train_fn, settings.progress

    def run(self, cells: Sequence[ResolvedCell], on_result: OnResult) -> None:
        devices = list(self.spec.devices)
        threads = cpu_threads_per_worker(devices)
        workers = min(len(devices), len(cells))
        progress = self.progress and workers == 1
        waiting, idle = deque(cells), devices
        running: dict[Future, tuple[ResolvedCell, str]] = {}
        with passive_omp_wait(), ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                                     initializer=start_worker, initargs=(LOG.getEffectiveLevel(),),
                                                     max_tasks_per_child=1) as pool:
            LOG.info("process pool: %d worker(s) on %s, %d CPU thread(s) each, a fresh process per cell", workers,
                     ", ".join(devices), threads)
            while waiting or running:
                while waiting and idle:
                    cell, device = waiting.popleft(), idle.pop(0)
                    try:
                        future = pool.submit(run_in_worker, self.spec, cell, self.train_fn, device, threads, progress)
                    except BrokenProcessPool:
                        idle.append(device)
                        on_result(cell.cell, CellOutcome.failed(cell.cell_id, WORKER_DIED))
                        continue
                    running[future] = (cell, device)
                if not running:
                    continue
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    cell, device = running.pop(future)
                    idle.append(device)
                    on_result(cell.cell, _outcome(future, cell))


def _outcome(future: Future, cell: ResolvedCell) -> CellOutcome:
    try:
        return future.result()
    except BrokenProcessPool:
        return CellOutcome.failed(cell.cell_id, WORKER_DIED)
    except Exception as err:  # noqa: BLE001 - e.g. an unpicklable train function
        return CellOutcome.failed(cell.cell_id, f"{type(err).__name__}: {err}")
