"""The 'ray' pool: Ray tasks, one GPU each (Ray sets CUDA_VISIBLE_DEVICES, so the task sees device '0'),
or ``cpu_count / len(devices)`` CPUs each on CPU. Uses a running cluster (RAY_ADDRESS) or starts a local
one sized to this machine, shut down on close. Ray is imported only when this pool is opened.

Default: no shared filesystem is assumed. A task with a :class:`~yololab.experiments.pool.task.Shipment`
runs in a node-local folder (``work_dir`` / ``--ray-work-dir``, else the node's temp folder) seeded with
its folders; they travel back through Ray's object store and are written here (``shipping``), its own
folder locked here from submission to write-back. ``shared_fs`` (``--ray-shared-fs``): every node sees
the driver's folders at the same paths and tasks work there directly. A task without a shipment always
runs in place (its files must be reachable from every node).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yololab.experiments.pool.folder_lock import folder_lock
from yololab.experiments.pool.shipping import Files, add_back, mirror_back, pack_folder, unpack_folder
from yololab.experiments.pool.task import Placement, Shipment, Task, TaskOutcome, TaskStatus, call, failure
from yololab.experiments.pool.worker import WORKER_OMP_WAIT_POLICY, cpu_threads_per_worker, start_worker

LOG = logging.getLogger("yololab")


@dataclass(frozen=True)
class NodeReturn:
    """What a Ray task sends back: the callable's value or its error, its folders, the node's id."""

    value: Any = None
    error: str | None = None
    own: Files | None = None
    shared: dict[str, Files] = field(default_factory=dict)
    node: str | None = None


def node_work_root(work_dir: str | None = None) -> Path:
    """Where this node runs shipped tasks: ``work_dir`` (``--ray-work-dir``, a path that exists or can be
    made on every node) or the node's temp folder."""
    return Path(work_dir) if work_dir else Path(tempfile.gettempdir())


def run_in_place(task: Task, placement: Placement, log_level: int) -> NodeReturn:
    """A Ray task working in the driver's folders (shared filesystem, or no shipment)."""
    import ray

    start_worker(log_level)
    node = ray.get_runtime_context().get_node_id()
    try:
        return NodeReturn(call(task, placement), node=node)
    except Exception as err:  # noqa: BLE001 - a failing task is an outcome
        return NodeReturn(error=failure(err), node=node)


def run_on_node(task: Task, placement: Placement, own: Files, shared: dict[str, Files], work_dir: str | None,
                log_level: int) -> NodeReturn:
    """A Ray task in a fresh folder of this node seeded with the shipped files; the folders come back."""
    import ray

    start_worker(log_level)
    node = ray.get_runtime_context().get_node_id()
    shipment = task.shipment
    root = node_work_root(work_dir)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"yololab-{Path(shipment.own).name}-", dir=root) as tmp:
        here = Path(tmp)
        unpack_folder(own, here / shipment.own)
        for rel, files in shared.items():
            unpack_folder(files, here / rel)
        try:
            value = call(task, dataclasses.replace(placement, root=here))
            return NodeReturn(value, None, pack_folder(here / shipment.own),
                              {rel: pack_folder(here / rel) for rel in shipment.shared}, node)
        except Exception as err:  # noqa: BLE001 - a failing task (or one too large to send back) is an outcome
            return NodeReturn(error=failure(err), node=node)


@dataclass
class Away:
    """The driver's half of a shipped task: its own folder's lock, the names sent, the write-back."""

    shipment: Shipment
    sent: frozenset[str] = frozenset()  # names only: the bytes live in Ray's object store once submitted
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def own(self) -> Path:
        return self.shipment.root / self.shipment.own

    def prepare(self) -> tuple[Files, dict[str, Files]]:
        """Lock the own folder and pack what the node needs; raises (lock released) when impossible."""
        holder = self._stack.enter_context(folder_lock(self.own, self.shipment.root))
        try:
            if holder is not None:
                raise RuntimeError(f"{self.own} is in use by another process (pid {holder}); not started twice")
            own = pack_folder(self.own)
            shared = {rel: pack_folder(self.shipment.root / rel) for rel in self.shipment.shared}
        except Exception:
            self.release()
            raise
        self.sent = frozenset(own)
        return own, shared

    def finish(self, back: NodeReturn) -> None:
        """Write what the node returned into the driver's folders (shared ones first, the done marker last)."""
        try:
            for rel, files in back.shared.items():
                add_back(self.shipment.root / rel, files)
            if back.own is not None:
                mirror_back(self.own, back.own, self.sent, self.shipment.done_marker)
        finally:
            self.release()

    def release(self) -> None:
        self._stack.close()


class RayPool:
    def __init__(self, devices: Sequence[str], shared_fs: bool = False, work_dir: str | None = None) -> None:
        try:
            import ray
        except ImportError as err:
            raise RuntimeError("--executor ray needs Ray: pip install 'ray[default]'") from err
        self.ray, self.started = ray, False
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            kwargs = {} if address else {"num_cpus": os.cpu_count() or 1, "runtime_env": {"env_vars": {
                "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", WORKER_OMP_WAIT_POLICY)}}}
            # 'local': a new cluster even when another one of this machine could be found (not RAY_ADDRESS's)
            ray.init(address=address or "local", include_dashboard=False, log_to_driver=True, **kwargs)
            self.started = True
        gpu = any(d != "cpu" for d in devices)
        threads = cpu_threads_per_worker(devices)
        self.placement = Placement("0" if gpu else "cpu", threads, alone=False)
        options = {"num_gpus": 1 if gpu else 0, "num_cpus": 1 if gpu else threads, "max_retries": 0}
        self.in_place = ray.remote(**options)(run_in_place)
        self.on_node = ray.remote(**options)(run_on_node)
        capacity = int(ray.cluster_resources().get("GPU" if gpu else "CPU", 0) // (1 if gpu else threads))
        self.slots = max(len(devices), capacity)  # in flight at once: Ray queues the rest itself anyway
        self.shared_fs, self.work_dir = shared_fs, work_dir
        self.running: dict[Any, tuple[Task, Away | None]] = {}
        self.done: deque[TaskOutcome] = deque()  # refused at submission

    @property
    def free(self) -> int:
        return 0 if self.done else self.slots - len(self.running)

    @property
    def busy(self) -> int:
        return len(self.running) + len(self.done)

    def submit(self, task: Task) -> None:
        level = LOG.getEffectiveLevel()
        if task.shipment is None or self.shared_fs:
            self.running[self.in_place.remote(task, self.placement, level)] = (task, None)
            return
        away = Away(task.shipment)
        try:
            own, shared = away.prepare()
        except Exception as err:  # noqa: BLE001 - locked by another process, or too large to send
            self.done.append(TaskOutcome.failed(task.key, str(err), self.placement.device))
            return
        self.running[self.on_node.remote(task, self.placement, own, shared, self.work_dir, level)] = (task, away)

    def next_outcome(self) -> TaskOutcome:
        if self.done:
            return self.done.popleft()
        (ref,), _ = self.ray.wait(list(self.running), num_returns=1)
        task, away = self.running.pop(ref)
        device = self.placement.device
        try:
            back: NodeReturn = self.ray.get(ref)
        except Exception as err:  # noqa: BLE001 - the worker died, or an input could not be pickled
            if away is not None:
                away.release()
            return TaskOutcome.failed(task.key, f"ray task failed: {failure(err)}", device)
        if away is not None:
            try:
                away.finish(back)
            except Exception as err:  # noqa: BLE001 - a task that cannot be written back has failed
                return TaskOutcome(task.key, TaskStatus.FAILED, back.value, f"writing back: {failure(err)}", device,
                                   back.node)
        if back.error is not None:
            return TaskOutcome(task.key, TaskStatus.FAILED, None, back.error, device, back.node)
        return TaskOutcome(task.key, TaskStatus.DONE, back.value, None, device, back.node)

    def close(self) -> None:
        for task, away in self.running.values():
            if away is not None:
                away.release()
        if self.started:
            self.ray.shutdown()
