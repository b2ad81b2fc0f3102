"""The latency backends of a comparison, in one table: what the spec calls each, what the result
files call it, its label, and the flat column names of its figures.

The spec (``latency_backends: [torch, onnxruntime, cuda_fp16]``) names a backend as ``yololab bench``
does; bench.json and the result rows name it by where it ran (``torch_cpu``). Every module that needs
either name, a label or a column name asks this table; no other module spells a latency column.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatencyBackend:
    name: str                # bench.json and result rows: 'torch_cpu'
    spec_name: str           # experiment spec, ``yololab bench --backend``: 'torch'
    label: str               # captions and plot titles: 'PyTorch CPU'
    header: str              # table header, without the unit: 'PyTorch CPU'
    fmt: str                 # format of the figure in tables
    on_gpu: bool = False     # timed on a GPU (the CPU load does not make it unreliable)
    unit: str = "ms"

    # -- the flat column names of this backend's figures (results.csv / results.json) --
    @property
    def ms_key(self) -> str:
        return f"latency_{self.name}_ms"

    @property
    def p90_key(self) -> str:
        return f"latency_{self.name}_p90_ms"

    @property
    def unreliable_key(self) -> str:
        return f"latency_{self.name}_unreliable"

    @property
    def device_key(self) -> str:
        return f"latency_{self.name}_device"

    @property
    def threads_key(self) -> str:
        return f"latency_{self.name}_threads"

    @property
    def error_key(self) -> str:
        return f"latency_{self.name}_error"

    @property
    def fps_key(self) -> str:
        return f"fps_{self.name}"

    @property
    def column_header(self) -> str:
        return f"{self.header} ({self.unit})"


BACKENDS: tuple[LatencyBackend, ...] = (
    LatencyBackend("torch_cpu", "torch", "PyTorch CPU", "PyTorch CPU", ".1f"),
    LatencyBackend("onnxruntime_cpu", "onnxruntime", "ONNX Runtime CPU", "ORT CPU", ".1f"),
    LatencyBackend("cuda_fp16", "cuda_fp16", "PyTorch CUDA FP16", "CUDA FP16", ".2f", on_gpu=True),
)
#: what an experiment spec may list (its default: every backend)
SPEC_NAMES: tuple[str, ...] = tuple(b.spec_name for b in BACKENDS)
#: the main table's one latency column: the first of these that some row has (GPU, then ORT, PyTorch)
PREFERENCE: tuple[str, ...] = ("cuda_fp16", "onnxruntime_cpu", "torch_cpu")


def backend(name: str) -> LatencyBackend:
    """The backend a result name ('torch_cpu') or a spec name ('torch') means; KeyError naming the valid ones."""
    for b in BACKENDS:
        if name in (b.name, b.spec_name):
            return b
    raise KeyError(f"unknown latency backend {name!r}; choose from {', '.join(SPEC_NAMES)}")


def spec_name(name: str) -> str:
    """The spec's name of a backend given either of its names ('torch_cpu' -> 'torch')."""
    return backend(name).spec_name
