"""Where cells run, by name: in this process, in a local process pool (one cell per device), or on Ray.

Every executor is made from the plan and the run settings and has one method, ``run(cells, on_result)``
(:class:`~yololab.experiments.run.cell_executor.CellExecutor`): it calls ``run_cell`` (which never raises for
a failing cell) and reports every outcome through ``on_result`` as it arrives. A worker that dies
(killed, out of memory) is recorded as a failure of its cell(s); re-running the comparison resumes them.
"""

from __future__ import annotations

from yololab.experiments.run.cell_executor import ExecutorFactory
from yololab.experiments.run.local_executor import LocalExecutor
from yololab.experiments.run.pool_executor import PoolExecutor
from yololab.experiments.run.ray_executor import RayExecutor

EXECUTORS: dict[str, ExecutorFactory] = {"local": LocalExecutor, "process": PoolExecutor, "ray": RayExecutor}
