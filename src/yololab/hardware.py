"""What machine a figure was measured on: CPU name, CUDA device name, load average.

At the bottom layer (next to ``atomic``) so that training, evaluation, deployment and the
experiment reports all name the device the same way.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU model (/proc/cpuinfo's, else platform's guess) and its logical core count,
    e.g. 'Intel(R) Xeon(R) Processor (2 logical cores)'."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "CPU"
    return f"{name} ({os.cpu_count()} logical cores)"


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (e.g. 'avx2', 'avx512_vnni'); empty where it has none.

    What the kernel reports for the host: under user-mode emulation (QEMU) or a VM that masks CPUID
    bits, the instructions a library actually dispatches on can differ (``saturation.u8s8_saturates``
    probes ONNX Runtime itself)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_vnni(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU has an 8-bit dot-product instruction set (AVX512-VNNI, AVX-VNNI or AMX-INT8),
    i.e. integer u8 x s8 kernels that do not saturate 16-bit intermediate sums."""
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)


def cuda_name(index: int = 0) -> str:
    """The name of CUDA device ``index``, or 'no CUDA device'."""
    import torch

    return torch.cuda.get_device_name(index) if torch.cuda.is_available() else "no CUDA device"


def load_average() -> tuple[float, float, float] | None:
    """The 1/5/15-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def load_line() -> str:
    """One line for a report: the load average beside the logical CPU count (other work competing
    for the cores makes latency figures noisier)."""
    load = load_average()
    if load is None:
        return "load average: n/a"
    return f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) on {os.cpu_count()} logical CPUs"
