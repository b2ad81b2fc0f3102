"""Where trials run: the same three executors as cells (here, a process pool, Ray), one trial per device.

A runner has free slots (one per device entry); ``submit`` starts a trial on a free device and
``next_outcome`` blocks until one finishes. A worker that dies is a failed trial, as a dead cell is.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from yololab.config import ConfigError
from yololab.experiments.plan.trainers import TrainFn
from yololab.experiments.run.worker_setup import WORKER_OMP_WAIT_POLICY, cpu_threads_per_worker, limit_threads, start_worker
from yololab.experiments.plan.spec import ExperimentSpec
from yololab.experiments.tuning.records import TrialOutcome, TrialTask
from yololab.experiments.tuning.trial import run_trial

LOG = logging.getLogger("yololab")


def _failed(task: TrialTask, device: str, error: str) -> TrialOutcome:
    return TrialOutcome(task.key, task.number, "failed", device=device, error=error)


class LocalRunner:
    """One trial after another in this process, on the first device."""

    def __init__(self, spec: ExperimentSpec, out: Path, train_fn: TrainFn | str | None, devices: Sequence[str]):
        self.spec, self.out, self.train_fn, self.device = spec, out, train_fn, devices[0]
        self.done: deque[TrialOutcome] = deque()

    @property
    def free(self) -> int:
        return 0 if self.done else 1

    @property
    def busy(self) -> int:
        return len(self.done)

    def submit(self, task: TrialTask) -> None:
        self.done.append(run_trial(self.spec, task, self.out, self.train_fn, self.device))

    def next_outcome(self) -> TrialOutcome:
        return self.done.popleft()

    def close(self) -> None:
        pass


def _pool_trial(spec: ExperimentSpec, task: TrialTask, out: Path, train_fn: TrainFn | str | None, device: str,
                threads: int, log_level: int) -> TrialOutcome:
    start_worker(log_level)
    limit_threads(device, threads)
    return run_trial(spec, task, out, train_fn, device)


class PoolRunner:
    """A spawn-context process pool, a fresh process per trial, one trial per device entry at a time."""

    def __init__(self, spec: ExperimentSpec, out: Path, train_fn: TrainFn | str | None, devices: Sequence[str]):
        self.spec, self.out, self.train_fn = spec, out, train_fn
        self.idle = list(devices)
        self.threads = cpu_threads_per_worker(devices)
        self.saved = os.environ.get("OMP_WAIT_POLICY")
        os.environ.setdefault("OMP_WAIT_POLICY", WORKER_OMP_WAIT_POLICY)
        self.pool = ProcessPoolExecutor(max_workers=len(devices), mp_context=mp.get_context("spawn"),
                                        max_tasks_per_child=1)
        self.running: dict[Future, tuple[TrialTask, str]] = {}
        LOG.info("tuning on a process pool: %d worker(s) on %s, %d CPU thread(s) each", len(devices),
                 ", ".join(devices), self.threads)

    @property
    def free(self) -> int:
        return len(self.idle)

    @property
    def busy(self) -> int:
        return len(self.running)

    def submit(self, task: TrialTask) -> None:
        device = self.idle.pop(0)
        future = self.pool.submit(_pool_trial, self.spec, task, self.out, self.train_fn, device, self.threads,
                                  LOG.getEffectiveLevel())
        self.running[future] = (task, device)

    def next_outcome(self) -> TrialOutcome:
        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        future = next(iter(done))
        task, device = self.running.pop(future)
        self.idle.append(device)
        try:
            return future.result()
        except Exception as err:  # noqa: BLE001 - a dead worker (killed, out of memory) fails its trial
            return _failed(task, device, f"worker process died: {type(err).__name__}: {err}")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.saved is None:
            os.environ.pop("OMP_WAIT_POLICY", None)


class RayRunner:
    """Ray tasks, one GPU each (or cpu_count / len(devices) CPUs each). Every node must reach the storage
    (a PostgreSQL/MySQL URL, or SQLite on a shared filesystem) and the data at the driver's paths."""

    def __init__(self, spec: ExperimentSpec, out: Path, train_fn: TrainFn | str | None, devices: Sequence[str]):
        try:
            import ray
        except ImportError as err:
            raise RuntimeError("--executor ray needs Ray: pip install 'ray[default]'") from err
        self.ray, self.started = ray, False
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            ray.init(address=address, include_dashboard=False, **({} if address else {"num_cpus": os.cpu_count() or 1}))
            self.started = True
        gpu = any(d != "cpu" for d in devices)
        self.threads = cpu_threads_per_worker(devices)
        self.device = "0" if gpu else "cpu"
        self.task = ray.remote(num_gpus=1 if gpu else 0, num_cpus=1 if gpu else self.threads,
                               max_retries=0)(_pool_trial)
        self.slots = len(devices)
        self.spec, self.out, self.train_fn = spec, out, train_fn
        self.running: dict = {}

    @property
    def free(self) -> int:
        return self.slots - len(self.running)

    @property
    def busy(self) -> int:
        return len(self.running)

    def submit(self, task: TrialTask) -> None:
        ref = self.task.remote(self.spec, task, self.out, self.train_fn, self.device, self.threads,
                               LOG.getEffectiveLevel())
        self.running[ref] = task

    def next_outcome(self) -> TrialOutcome:
        done, _ = self.ray.wait(list(self.running), num_returns=1)
        task = self.running.pop(done[0])
        try:
            return self.ray.get(done[0])
        except Exception as err:  # noqa: BLE001 - worker crash
            return _failed(task, self.device, f"ray task failed: {type(err).__name__}: {err}")

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


RUNNERS = {"local": LocalRunner, "process": PoolRunner, "ray": RayRunner}


def make_runner(executor: str, spec: ExperimentSpec, out: Path, train_fn: TrainFn | str | None,
                devices: Sequence[str]):
    if executor not in RUNNERS:
        raise ConfigError(f"unknown executor {executor!r}; choose from {', '.join(RUNNERS)}")
    return RUNNERS[executor](spec, out, train_fn, devices)
