"""Admission by memory: each request reserves the bytes its decode may take (known from the image
header) before decoding; when the budget is spent the server answers 503 with Retry-After instead of
growing. The budget also bounds concurrency: ``budget // cost of the largest allowed image`` such
images decode at once, many more small ones. Request bodies count too: each body's memory share while it
is taken in (:mod:`yololab.deploy.serving.limits`) and each upload's bytes once they are read for decoding."""

from __future__ import annotations

import resource
import threading
from pathlib import Path
from dataclasses import dataclass


class BudgetFull(RuntimeError):
    """No room in the memory budget right now; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Reservation:
    """Bytes held for one request; :meth:`MemoryBudget.release` gives them back."""

    nbytes: int


class MemoryBudget:
    """A thread-safe byte budget shared by the requests in flight."""

    def __init__(self, total_bytes: int) -> None:
        if total_bytes < 1:
            raise ValueError(f"the memory budget must be positive, got {total_bytes} bytes")
        self.total, self.used, self.refused, self.peak = total_bytes, 0, 0, 0
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> Reservation:
        """Hold ``nbytes`` or raise :class:`BudgetFull` (a request larger than the whole budget is
        refused by the pixel limit before it gets here)."""
        with self._lock:
            if self.used + nbytes > self.total:
                self.refused += 1
                raise BudgetFull(f"server busy: {self.used / 2**20:.0f} of {self.total / 2**20:.0f} MiB of decode "
                                 f"memory in use and this image needs {nbytes / 2**20:.0f} MiB; retry shortly")
            self.used += nbytes
            self.peak = max(self.peak, self.used)
            return Reservation(nbytes)

    def shrink(self, reservation: Reservation, nbytes: int) -> None:
        """Keep only ``nbytes`` of ``reservation`` (the decode is over, its small result stays)."""
        with self._lock:
            keep = min(nbytes, reservation.nbytes)
            self.used -= reservation.nbytes - keep
            reservation.nbytes = keep

    def release(self, reservation: Reservation) -> None:
        with self._lock:
            self.used -= reservation.nbytes
            reservation.nbytes = 0

    def snapshot(self) -> dict[str, int]:
        return {"memory_budget_bytes": self.total, "memory_in_use_bytes": self.used,
                "memory_peak_bytes": self.peak, "refused_busy": self.refused}


def process_peak_rss_bytes() -> int:
    """This process's peak resident memory (Linux ``VmHWM``, which a load test may reset; else getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
