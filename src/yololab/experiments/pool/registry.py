"""The pools by name (``--executor``): 'local', 'process', 'ray'; ``open_pool`` makes one for a list of device entries."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from yololab.config import ConfigError
from yololab.experiments.pool.local import LocalPool
from yololab.experiments.pool.process import ProcessPool
from yololab.experiments.pool.protocol import TaskPool
from yololab.experiments.pool.ray_pool import RayPool

POOLS: dict[str, Callable[..., TaskPool]] = {
    "local": lambda devices, **_: LocalPool(devices),
    "process": lambda devices, **_: ProcessPool(devices),
    "ray": lambda devices, shared_fs=False, work_dir=None: RayPool(devices, shared_fs, work_dir),
}


@contextlib.contextmanager
def open_pool(name: str, devices: Sequence[str], *, shared_fs: bool = False,
              work_dir: str | None = None) -> Iterator[TaskPool]:
    """The pool ``name`` with a slot per entry of ``devices`` (Ray options: ``shared_fs``, ``work_dir``),
    closed on leaving."""
    if name not in POOLS:
        raise ConfigError(f"unknown executor {name!r}; choose from {', '.join(POOLS)}")
    if not devices:
        raise ConfigError("no device entries to run tasks on (expected e.g. 'cpu', '0,1' or 'cpu*2')")
    pool = POOLS[name](list(devices), shared_fs=shared_fs, work_dir=work_dir)
    try:
        yield pool
    finally:
        pool.close()
