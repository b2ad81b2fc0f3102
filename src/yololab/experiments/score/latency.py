"""Batch-1 model latency of a compare cell, measured exactly as ``yololab bench`` measures its model stage.

PyTorch CPU and ONNX Runtime CPU go through ``yololab.deploy.bench.model_latency``: the same export
(``export_model``), the same ``Backend`` and the same timer (``timing.time_backend``) as
``yololab bench --backend torch|onnxruntime``, so the report and ``yololab bench`` give one figure
for one model. With a GPU, PyTorch CUDA FP16 is timed by the same timing loop with a CUDA sync (no
``Backend`` runs on CUDA). Each figure carries its device name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yololab.experiments.results.latency_backends import BACKENDS

LOG = logging.getLogger("yololab")
GPU_BACKEND = next(b for b in BACKENDS if b.on_gpu)


def cuda_fp16_latency(checkpoint: Path, imgsz: int, runs: int, warmup: int, index: int = 0) -> dict[str, Any]:
    """PyTorch CUDA FP16 latency of the fused model with decoding, batch 1."""
    import torch

    from yololab.deploy.runtime import timing
    from yololab.deploy.runtime.graph import DecodedDetector
    from yololab.hardware import cuda_name
    from yololab.models.checkpoints import load_model

    device = torch.device("cuda", index)
    model = load_model(checkpoint).float().eval().fuse()
    probe = DecodedDetector(model).to(device).half()
    x = torch.rand(1, model.in_channels, imgsz, imgsz, device=device).half()
    with torch.inference_mode():
        ms = timing.time_calls(lambda: probe(x), runs, warmup, sync=torch.cuda.synchronize)
    return {**timing.summarize(ms), "warmup": warmup, "backend": GPU_BACKEND.name, "device": cuda_name(index),
            "precision": "fp16", "threads": None}


#: a figure is unreliable when the 1-minute load exceeded this share of the cores while timing ...
BUSY_LOAD_SHARE = 0.5
#: ... or when its runs spread wide: p90 above this multiple of the median
WIDE_SPREAD = 1.5


def available_backends(backends: tuple[str, ...] | list[str]) -> list[str]:
    """The requested latency backends (spec names) this machine can run (GPU ones only with a CUDA GPU)."""
    import torch

    gpu = {b.spec_name for b in BACKENDS if b.on_gpu}
    return [b for b in backends if b not in gpu or torch.cuda.is_available()]


def unreliable_reason(result: dict[str, Any], load: float | None, cores: int | None) -> str | None:
    """Why a latency figure cannot be trusted (a busy CPU, a wide spread of its runs), or None.
    GPU figures ignore the CPU load."""
    median, p90 = result.get("median_ms"), result.get("p90_ms")
    on_gpu = any(b.on_gpu and result.get("backend") in (b.name, b.spec_name) for b in BACKENDS)
    if not on_gpu and load is not None and cores and load > BUSY_LOAD_SHARE * cores:
        return f"1-min load {load:.1f} on {cores} cores"
    if isinstance(median, (int, float)) and isinstance(p90, (int, float)) and median > 0 and p90 > WIDE_SPREAD * median:
        return f"p90 {p90:.1f} ms = {p90 / median:.1f}x the median"
    return None


def benchmark_model(checkpoint: str | Path, imgsz: int, onnx_path: Path, runs: int = 50, warmup: int = 10,
                    backends: tuple[str, ...] = tuple(b.spec_name for b in BACKENDS),
                    threads: int | None = None) -> dict[str, dict]:
    """Latency per backend of a checkpoint: result name (``latency_backends``) -> bench result.

    The ONNX export is written to ``onnx_path``. CPU backends run with ``threads`` threads (default:
    PyTorch's current count, so that both CPU backends use the same, stated number). A backend that
    cannot run here is recorded as {'error': ...} (CUDA is simply left out without a GPU).
    """
    import torch

    from yololab.deploy.bench import model_latency

    checkpoint = Path(checkpoint)
    threads = threads or torch.get_num_threads()
    out: dict[str, dict] = {}
    for b in BACKENDS:
        if b.spec_name not in backends:
            continue
        if not b.on_gpu:  # yololab bench's backend of that name
            out[b.name] = _guard(lambda kind=b.spec_name: model_latency(
                checkpoint, kind, imgsz, onnx_path.parent, runs, warmup, threads=threads, stem=onnx_path.stem))
        elif torch.cuda.is_available():
            out[b.name] = _guard(lambda: cuda_fp16_latency(checkpoint, imgsz, runs, warmup))
    return out


def _guard(measure: Callable[[], dict]) -> dict:
    try:
        return measure()
    except Exception as err:  # noqa: BLE001 - one backend failing must not lose the others
        LOG.warning("latency measurement failed: %s: %s", type(err).__name__, err)
        return {"error": f"{type(err).__name__}: {err}"}
