"""Where cells run: in this process, in a local process pool (one cell per device), or on Ray (each cell in
a node-local folder, its files sent back to the driver: see ``ray_node``; or, on a shared filesystem, in place).

Each executor calls ``run_cell`` (which never raises for a failing cell) and reports every
outcome through ``on_result`` as it arrives. A worker that dies (killed, out of memory) is
recorded as a failure of its cell(s); re-running the comparison resumes them.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from yololab.experiments.cell_transfer import Files
from yololab.experiments.run_cell import TrainFn, run_cell
from yololab.experiments.ray_node import NodeLocalCell, NodeResult, run_on_node
from yololab.experiments.spec import Cell, ExperimentSpec
from yololab.experiments.status import CellOutcome

LOG = logging.getLogger("yololab")
OnResult = Callable[[Cell, CellOutcome], None]
EXECUTORS = ("local", "process", "ray")

# Workers' OpenMP threads sleep instead of spinning while they wait: on a CPU shared with other work
# (concurrent cells, other jobs) spinning threads make PyTorch training 10x slower or worse. A value
# set by the user wins.
WORKER_OMP_WAIT_POLICY = "PASSIVE"
_WORKER_DEVICE = "cpu"  # set once per pool worker by _init_worker
_DEVICE_QUEUE = None


def cpu_threads_per_worker(devices: Sequence[str]) -> int:
    """CPU threads for each concurrent cell so that together they use every core once
    (OMP_NUM_THREADS, when set, is respected as an upper bound)."""
    share = max(1, (os.cpu_count() or 1) // max(1, len(devices)))
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(share, int(limit)) if limit.isdigit() and int(limit) > 0 else share


def run_local(spec: ExperimentSpec, cells: Sequence[Cell], out_dir: Path, train_fn: TrainFn | str | None,
              devices: Sequence[str], on_result: OnResult, progress: bool = True) -> None:
    """One cell after another in this process, on the first device."""
    for cell in cells:
        on_result(cell, run_cell(spec, cell, out_dir, train_fn, devices[0], progress))


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the process that started it dies, so a killed comparison leaves
    no orphan still training a cell (which a re-run would then race)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _init_worker(queue, threads: int, log_level: int) -> None:
    """Pool initializer: take a free device for this worker; limit CPU threads."""
    global _WORKER_DEVICE, _DEVICE_QUEUE
    _die_with_parent()
    _DEVICE_QUEUE = queue
    _WORKER_DEVICE = queue.get()
    logging.basicConfig(level=log_level, format="%(levelname)s [%(processName)s] %(message)s")
    if _WORKER_DEVICE == "cpu":
        import torch

        torch.set_num_threads(threads)


def _worker_run(spec: ExperimentSpec, cell: Cell, out_dir: Path, train_fn: TrainFn | str | None,
                progress: bool) -> CellOutcome:
    try:
        return run_cell(spec, cell, out_dir, train_fn, _WORKER_DEVICE, progress=progress)
    finally:
        _DEVICE_QUEUE.put(_WORKER_DEVICE)  # this process ends after one cell; the next one takes the device


def run_process_pool(spec: ExperimentSpec, cells: Sequence[Cell], out_dir: Path, train_fn: TrainFn | str | None,
                     devices: Sequence[str], on_result: OnResult, progress: bool = True) -> None:
    """A spawn-context process pool with one worker per device entry (e.g. ['0', '1'] or ['cpu', 'cpu']).

    Every cell gets a fresh process (crash isolation; a clean peak-memory measurement on CPU).
    Progress bars are shown only with a single worker (several would interleave).
    """
    ctx = mp.get_context("spawn")
    saved = os.environ.get("OMP_WAIT_POLICY")
    os.environ.setdefault("OMP_WAIT_POLICY", WORKER_OMP_WAIT_POLICY)  # read by each new worker's OpenMP
    try:
        _run_pool(ctx, spec, cells, out_dir, train_fn, devices, on_result, progress)
    finally:
        if saved is None:
            os.environ.pop("OMP_WAIT_POLICY", None)


def _run_pool(ctx, spec: ExperimentSpec, cells: Sequence[Cell], out_dir: Path, train_fn: TrainFn | str | None,
              devices: Sequence[str], on_result: OnResult, progress: bool) -> None:
    queue = ctx.Queue()
    for device in devices:
        queue.put(device)
    threads = cpu_threads_per_worker(devices)
    workers = min(len(devices), len(cells))
    progress = progress and workers == 1
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(queue, threads, LOG.getEffectiveLevel()), max_tasks_per_child=1) as pool:
        LOG.info("process pool: %d worker(s) on %s, %d CPU thread(s) each, a fresh process per cell", workers,
                 ", ".join(devices), threads)
        futures = {pool.submit(_worker_run, spec, cell, out_dir, train_fn, progress): cell for cell in cells}
        for future in as_completed(futures):
            cell = futures[future]
            try:
                outcome = future.result()
            except BrokenProcessPool:
                outcome = CellOutcome.failed(cell.cell_id, "worker process died (killed, out of memory, or a "
                                             "calling script without `if __name__ == '__main__':`, which "
                                             "spawned workers need); re-run to resume")
            except Exception as err:  # noqa: BLE001 - e.g. an unpicklable train function
                outcome = CellOutcome.failed(cell.cell_id, f"{type(err).__name__}: {err}")
            on_result(cell, outcome)


def _limit_threads(device: str, threads: int) -> None:
    if device == "cpu":
        import torch

        torch.set_num_threads(threads)


def _ray_run(spec: ExperimentSpec, cell: Cell, out_dir: Path, train_fn: TrainFn | str | None,
             device: str, threads: int) -> CellOutcome:
    _limit_threads(device, threads)
    return run_cell(spec, cell, out_dir, train_fn, device, progress=False)


def _ray_run_node_local(spec: ExperimentSpec, cell: Cell, cell_files: Files, scoring_files: Files,
                        train_fn: TrainFn | str | None, device: str, threads: int,
                        work_dir: str | None = None) -> NodeResult:
    import ray

    _limit_threads(device, threads)
    outcome, files, scoring = run_on_node(spec, cell, cell_files, scoring_files, train_fn, device, work_dir)
    return dataclasses.replace(outcome, node=ray.get_runtime_context().get_node_id()), files, scoring


def run_ray(spec: ExperimentSpec, cells: Sequence[Cell], out_dir: Path, train_fn: TrainFn | str | None,
            devices: Sequence[str], on_result: OnResult, shared_fs: bool = False,
            work_dir: str | None = None) -> None:
    """Ray tasks, one GPU each (Ray sets CUDA_VISIBLE_DEVICES, so the cell sees device '0'), or
    ``cpu_count / len(devices)`` CPUs each on CPU. Uses a running cluster (RAY_ADDRESS) or starts a
    local one sized to this machine, shut down afterwards.

    Default: no shared filesystem is assumed. A cell runs in a node-local folder (``work_dir`` / ``--ray-work-dir``, else the node's temp folder
    on that node, else its temp folder) and its files travel back through Ray's object store; the driver
    writes them into ``out_dir``, metrics.json last (see ``ray_node``). The data set must be at the
    driver's path on every node. ``shared_fs=True`` (``--ray-shared-fs``): every node sees ``out_dir``
    at the same path and cells write there directly (no copying of weights).
    """
    try:
        import ray
    except ImportError as err:
        raise RuntimeError("--executor ray needs Ray: pip install 'ray[default]'") from err
    started = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        kwargs = {} if address else {"num_cpus": os.cpu_count() or 1, "runtime_env": {"env_vars": {
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", WORKER_OMP_WAIT_POLICY)}}}
        ray.init(address=address, include_dashboard=False, log_to_driver=True, **kwargs)
        started = True
    try:
        gpu = any(d != "cpu" for d in devices)
        threads = cpu_threads_per_worker(devices)
        device = "0" if gpu else "cpu"
        options = {"num_gpus": 1 if gpu else 0, "num_cpus": 1 if gpu else threads, "max_retries": 0}
        if shared_fs:
            task = ray.remote(**options)(_ray_run)
            refs = {task.remote(spec, cell, Path(out_dir), train_fn, device, threads): (cell, None) for cell in cells}
        else:
            refs = _submit_node_local(ray.remote(**options)(_ray_run_node_local), spec, cells, Path(out_dir),
                                      train_fn, device, threads, on_result, work_dir)
        _collect(ray, refs, on_result)
    finally:
        if started:
            ray.shutdown()


def _submit_node_local(task, spec: ExperimentSpec, cells: Sequence[Cell], out_dir: Path,
                       train_fn: TrainFn | str | None, device: str, threads: int,
                       on_result: OnResult, work_dir: str | None = None) -> dict:
    refs = {}
    for cell in cells:
        local = NodeLocalCell(cell, out_dir)
        shipped = local.prepare()
        if isinstance(shipped, CellOutcome):  # refused: locked by another process, or too large
            on_result(cell, shipped)
            continue
        refs[task.remote(spec, cell, *shipped, train_fn, device, threads, work_dir)] = (cell, local)
    return refs


def _collect(ray, refs: dict, on_result: OnResult) -> None:
    """Report each task's outcome as it finishes (a node-local cell's files written back first)."""
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        cell, local = refs[done[0]]
        try:
            result = ray.get(done[0])
        except Exception as err:  # noqa: BLE001 - worker crash or unpicklable input
            if local is not None:
                local.release()
            outcome = CellOutcome.failed(cell.cell_id, f"ray task failed: {type(err).__name__}: {err}")
        else:
            outcome = result if local is None else local.finish(result)
        on_result(cell, outcome)
