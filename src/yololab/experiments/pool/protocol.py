"""The one interface of every pool (``TaskPool``) and the loop that runs a batch of tasks on one."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from yololab.experiments.pool.task import Task, TaskOutcome


class TaskPool(Protocol):
    """Runs tasks, one per free slot (a slot per device entry). ``submit`` starts a task on a free slot;
    ``next_outcome`` blocks until one has finished and returns it (never raises for a failing task);
    ``close`` waits for nothing more and frees the workers."""

    slots: int

    @property
    def free(self) -> int: ...

    @property
    def busy(self) -> int: ...

    def submit(self, task: Task) -> None: ...

    def next_outcome(self) -> TaskOutcome: ...

    def close(self) -> None: ...


def run_tasks(pool: TaskPool, tasks: Iterable[Task], on_outcome: Callable[[TaskOutcome], None]) -> None:
    """Every task on ``pool``, a new one as soon as a slot frees; each outcome reported as it arrives."""
    waiting = deque(tasks)
    while waiting or pool.busy:
        while waiting and pool.free:
            pool.submit(waiting.popleft())
        on_outcome(pool.next_outcome())
