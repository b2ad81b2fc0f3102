"""What every worker process of a pool does first: die with its parent, log as it does, share the CPU fairly."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

# Workers' OpenMP threads sleep instead of spinning while they wait: on a CPU shared with other work
# (concurrent cells, other jobs) spinning threads make PyTorch training 10x slower or worse. A value
# set by the user wins.
WORKER_OMP_WAIT_POLICY = "PASSIVE"


def cpu_threads_per_worker(devices: Sequence[str]) -> int:
    """CPU threads for each concurrent cell so that together they use every core once
    (OMP_NUM_THREADS, when set, is respected as an upper bound)."""
    share = max(1, (os.cpu_count() or 1) // max(1, len(devices)))
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(share, int(limit)) if limit.isdigit() and int(limit) > 0 else share


def die_with_parent() -> None:
    """Linux: SIGKILL this worker when the process that started it dies, so a killed comparison leaves
    no orphan still training a cell (which a re-run would then race)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_worker(log_level: int) -> None:
    """Pool initializer: die with the parent; log as the parent does, naming the process."""
    die_with_parent()
    logging.basicConfig(level=log_level, format="%(levelname)s [%(processName)s] %(message)s")


def limit_threads(device: str, threads: int) -> None:
    """On CPU, this process trains with ``threads`` threads (its share of the cores)."""
    if device == "cpu":
        import torch

        torch.set_num_threads(threads)
