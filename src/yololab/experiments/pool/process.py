"""The 'process' pool: a spawn-context process pool with one worker per device entry.

Every task gets a fresh process (crash isolation; a clean peak-memory measurement on CPU), started on
a free device entry ('0', '1' for GPUs, 'cpu', 'cpu' for CPU workers) with its share of the CPU
threads; the entry comes back when the task ends. A worker that dies (killed, out of memory) breaks the
pool: the tasks running in it fail with it, and once they are all back a new pool takes the next ones.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from yololab.experiments.pool.task import Placement, Task, TaskOutcome, TaskStatus, call, failure
from yololab.experiments.pool.worker import WORKER_OMP_WAIT_POLICY, cpu_threads_per_worker, start_worker

LOG = logging.getLogger("yololab")
WORKER_DIED = ("worker process died (killed, out of memory, or a calling script without "
               "`if __name__ == '__main__':`, which spawned workers need); re-run to resume")


class ProcessPool:
    def __init__(self, devices: Sequence[str]) -> None:
        self.slots = len(devices)
        self.idle = list(devices)
        self.threads = cpu_threads_per_worker(devices)
        self.saved_omp = os.environ.get("OMP_WAIT_POLICY")
        os.environ.setdefault("OMP_WAIT_POLICY", WORKER_OMP_WAIT_POLICY)  # each new worker's OpenMP reads it
        self.pool = self._start()
        self.running: dict[Future, tuple[Task, str]] = {}
        self.done: deque[TaskOutcome] = deque()  # outcomes known at submission (a broken pool)
        LOG.info("process pool: %d worker(s) on %s, %d CPU thread(s) each, a fresh process per task", self.slots,
                 ", ".join(devices), self.threads)

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.slots, mp_context=mp.get_context("spawn"),
                                   initializer=start_worker, initargs=(LOG.getEffectiveLevel(),),
                                   max_tasks_per_child=1)

    @property
    def free(self) -> int:
        return 0 if self.done else len(self.idle)

    @property
    def busy(self) -> int:
        return len(self.running) + len(self.done)

    def submit(self, task: Task) -> None:
        device = self.idle.pop(0)
        placement = Placement(device, self.threads, alone=self.slots == 1)
        try:
            future = self.pool.submit(call, task, placement)
        except BrokenProcessPool:  # a dead worker broke it while others still run: they all fail with it
            self.idle.append(device)
            self.done.append(TaskOutcome.failed(task.key, WORKER_DIED, device))
            return
        self.running[future] = (task, device)

    def next_outcome(self) -> TaskOutcome:
        if self.done:
            return self.done.popleft()
        finished, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        future = next(iter(finished))
        task, device = self.running.pop(future)
        self.idle.append(device)
        try:
            return TaskOutcome(task.key, TaskStatus.DONE, future.result(), device=device)
        except BrokenProcessPool:
            if not self.running:  # the last task of the broken pool: the next ones get a new pool
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._start()
            return TaskOutcome.failed(task.key, WORKER_DIED, device)
        except Exception as err:  # noqa: BLE001 - the task raised, or it could not be pickled
            return TaskOutcome.failed(task.key, failure(err), device)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.saved_omp is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
