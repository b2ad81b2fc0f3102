"""The 'ray' executor: Ray tasks, one GPU each (Ray sets CUDA_VISIBLE_DEVICES, so the cell sees device '0'),
or ``cpu_count / len(devices)`` CPUs each on CPU. Uses a running cluster (RAY_ADDRESS) or starts a local
one sized to this machine, shut down afterwards. Ray is imported only when this executor runs.

Default: no shared filesystem is assumed. A cell runs in a node-local folder (``ray_work_dir`` /
``--ray-work-dir``, else the node's temp folder) and its files travel back through Ray's object store;
the driver writes them into the comparison folder, metrics.json last (see ``ray_node``). The data set
must be at the driver's path on every node. ``ray_shared_fs`` (``--ray-shared-fs``): every node sees
the comparison folder at the same path and cells write there directly (no copying of weights).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from yololab.experiments.run.cell_executor import OnResult
from yololab.experiments.run.cell_transfer import Files
from yololab.experiments.plan.comparison_plan import ComparisonPlan, ResolvedCell
from yololab.experiments.run.ray_node import NodeLocalCell, NodeResult, run_on_node
from yololab.experiments.run.run_cell import run_cell
from yololab.experiments.plan.trainers import TrainFn
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import ExperimentSpec
from yololab.experiments.results.status import CellOutcome
from yololab.experiments.run.worker_setup import WORKER_OMP_WAIT_POLICY, cpu_threads_per_worker, limit_threads


def run_in_place(spec: ExperimentSpec, cell: ResolvedCell, train_fn: TrainFn | str | None, device: str,
                 threads: int) -> CellOutcome:
    """A Ray task on a shared filesystem: the cell runs in the comparison folder itself."""
    limit_threads(device, threads)
    return run_cell(spec, cell, train_fn, device, progress=False)


def run_node_local(spec: ExperimentSpec, cell: ResolvedCell, cell_files: Files, scoring_files: Files,
                   train_fn: TrainFn | str | None, device: str, threads: int,
                   work_dir: str | None = None) -> NodeResult:
    """A Ray task without a shared filesystem: the cell runs in a folder of the node, its files come back."""
    import ray

    limit_threads(device, threads)
    outcome, files, scoring = run_on_node(spec, cell, cell_files, scoring_files, train_fn, device, work_dir)
    return dataclasses.replace(outcome, node=ray.get_runtime_context().get_node_id()), files, scoring


class RayExecutor:
    def __init__(self, plan: ComparisonPlan, settings: RunSettings) -> None:
        self.spec, self.out, self.train_fn = plan.spec, plan.out, settings.train_fn
        self.shared_fs, self.work_dir = settings.ray_shared_fs, settings.ray_work_dir

    def run(self, cells: Sequence[ResolvedCell], on_result: OnResult) -> None:
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
            _collect(ray, self._submit(ray, cells, on_result), on_result)
        finally:
            if started:
                ray.shutdown()

    def _submit(self, ray, cells: Sequence[ResolvedCell], on_result: OnResult) -> dict:
        """Each cell as a Ray task: {task ref: (cell, its driver side when node-local, else None)}."""
        devices = self.spec.devices
        gpu = any(d != "cpu" for d in devices)
        threads = cpu_threads_per_worker(devices)
        device = "0" if gpu else "cpu"
        options = {"num_gpus": 1 if gpu else 0, "num_cpus": 1 if gpu else threads, "max_retries": 0}
        if self.shared_fs:
            task = ray.remote(**options)(run_in_place)
            return {task.remote(self.spec, cell, self.train_fn, device, threads): (cell, None) for cell in cells}
        task = ray.remote(**options)(run_node_local)
        refs = {}
        for cell in cells:
            local = NodeLocalCell(cell, self.out)
            shipped = local.prepare()
            if isinstance(shipped, CellOutcome):  # refused: locked by another process, or too large
                on_result(cell.cell, shipped)
                continue
            refs[task.remote(self.spec, cell, *shipped, self.train_fn, device, threads, self.work_dir)] = (cell, local)
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
        on_result(cell.cell, outcome)
