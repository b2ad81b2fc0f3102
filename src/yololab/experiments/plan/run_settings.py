"""``RunSettings``: how a comparison is run (where, on what, with which trainer), apart from what it compares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from yololab.config import ConfigError
from yololab.experiments.plan.trainers import default_trainer

if TYPE_CHECKING:
    from yololab.train.contract import Trainer

ExecutorName = Literal["local", "process", "ray"]
EXECUTOR_NAMES: tuple[str, ...] = get_args(ExecutorName)


@dataclass(frozen=True)
class RunSettings:
    """``executor``: 'local' (one cell after another here), 'process' (a process pool, one worker per device
    entry: '0,1,2,3' for GPUs, 'cpu,cpu' for two CPU workers) or 'ray' (see ``experiments.pool.ray_pool``)."""

    executor: ExecutorName = "local"
    devices: str | Sequence[str] | None = None  # replaces the spec's devices when given
    train_fn: Trainer = default_trainer         # a picklable Trainer (a module-level function) for the workers
    command: str | None = None                  # the command line, recorded in run.json
    bench: bool = True                          # time every finished cell (the latency phase)
    report: bool = True                         # write tables, plots and report.html
    progress: bool = True                       # progress bars (with a single worker)
    ray_shared_fs: bool = False                 # Ray: every node writes the comparison folder directly
    ray_work_dir: str | None = None             # Ray, node-local: where nodes run cells (default: their temp folder)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTOR_NAMES:
            raise ConfigError(f"unknown executor {self.executor!r}; choose from {', '.join(EXECUTOR_NAMES)}")
