"""The 'local' pool: one task after another in this process, on the first device entry."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

from yololab.experiments.pool.task import Placement, Task, TaskOutcome, TaskStatus, call, failure

LOG = logging.getLogger("yololab")


class LocalPool:
    """Runs each task when it is submitted (in this process: debugging, tests); one slot."""

    slots = 1

    def __init__(self, devices: Sequence[str]) -> None:
        self.device = devices[0]
        self.done: deque[TaskOutcome] = deque()
        if len(devices) > 1:
            LOG.warning("local executor: one task at a time on device %s (use --executor process to run one per "
                        "device)", self.device)

    @property
    def free(self) -> int:
        return 0 if self.done else 1

    @property
    def busy(self) -> int:
        return len(self.done)

    def submit(self, task: Task) -> None:
        try:
            outcome = TaskOutcome(task.key, TaskStatus.DONE, call(task, Placement(self.device)), device=self.device)
        except Exception as err:  # noqa: BLE001 - a failing task is an outcome, the others go on
            outcome = TaskOutcome.failed(task.key, failure(err), self.device)
        self.done.append(outcome)

    def next_outcome(self) -> TaskOutcome:
        return self.done.popleft()

    def close(self) -> None:
        pass
