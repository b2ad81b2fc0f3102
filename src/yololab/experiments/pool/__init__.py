"""One task pool for everything that runs in parallel: typed tasks in, typed outcomes out, on 'local', 'process' or 'ray'.

``task.py`` (Task, Placement, Shipment, TaskOutcome), ``protocol.py`` (the one interface, ``TaskPool``),
``local.py`` / ``process.py`` / ``ray_pool.py`` (the backends), ``registry.py`` (backends by name),
``worker.py`` (what every worker does first), ``shipping.py`` and ``folder_lock.py`` (folders that travel
to a node without a shared filesystem). Nothing here knows cells or trials: they are tasks.
"""

from yololab.experiments.pool.protocol import TaskPool, run_tasks
from yololab.experiments.pool.registry import POOLS, open_pool
from yololab.experiments.pool.task import Placement, Shipment, Task, TaskOutcome, TaskStatus

__all__ = ["POOLS", "Placement", "Shipment", "Task", "TaskOutcome", "TaskPool", "TaskStatus", "open_pool", "run_tasks"]
