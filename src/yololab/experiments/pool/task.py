"""What a pool runs and what it hands back: a :class:`Task` in, a :class:`TaskOutcome` out.

A task is a picklable callable (a module-level function: it pickles by reference) with its arguments
and a key; the pool calls ``fn(placement, *args)``, the :class:`Placement` saying which device entry the
task got. A task that raises, or whose worker dies, is a FAILED outcome with its error: the pool never
raises for one task.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from yololab.experiments.pool.worker import limit_threads

V = TypeVar("V")


class TaskStatus(enum.StrEnum):
    DONE = "done"        # the callable returned: ``value`` holds what it returned
    FAILED = "failed"    # it raised, its worker died, or its folders could not travel: ``error`` says which


@dataclass(frozen=True)
class Placement:
    """Where a task runs, handed to it as its first argument.

    ``device``: the device entry ('cpu', '0', ...; on Ray always '0' for a GPU, Ray picks it);
    ``threads``: the CPU threads it may use (None: as the process has them); ``alone``: no other task
    runs beside it (progress bars will not interleave); ``root``: where the task's shipped folder is on
    this node (None: it runs in the driver's folder, ``Shipment.root``)."""

    device: str
    threads: int | None = None
    alone: bool = True
    root: Path | None = None


@dataclass(frozen=True)
class Shipment:
    """The folder a task works in, for a node that cannot see the driver's files (Ray without a shared
    filesystem). ``own`` (relative to ``root``) belongs to this task: it is locked here while away, sent
    whole, and mirrored back (a file the node removed is removed here; ``done_marker`` is written last).
    ``shared`` sub-folders are seen by other tasks too: sent whole, and only added to when they come back
    (a file that came back different from the one here is an error)."""

    root: Path
    own: str
    shared: tuple[str, ...] = ()
    done_marker: str | None = None


@dataclass(frozen=True)
class Task(Generic[V]):
    """``fn(placement, *args)`` to run somewhere, known by ``key`` in its outcome."""

    key: Hashable
    fn: Callable[..., V]
    args: tuple[Any, ...] = ()
    shipment: Shipment | None = None


@dataclass(frozen=True)
class TaskOutcome(Generic[V]):
    """What became of a task: its value (DONE) or its error (FAILED), the device entry it had and, on Ray,
    the node it ran on."""

    key: Hashable
    status: TaskStatus
    value: V | None = None
    error: str | None = None
    device: str = "cpu"
    node: str | None = None

    @classmethod
    def failed(cls, key: Hashable, error: str, device: str = "cpu") -> TaskOutcome:
        return cls(key, TaskStatus.FAILED, error=error, device=device)

    @property
    def ok(self) -> bool:
        return self.status == TaskStatus.DONE


def call(task: Task[V], placement: Placement) -> V:
    """The task's callable with its placement (CPU threads limited first)."""
    if placement.threads is not None:
        limit_threads(placement.device, placement.threads)
    return task.fn(placement, *task.args)


def failure(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
