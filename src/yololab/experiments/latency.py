"""Batch-1 model latency the field's way: fused, eval mode, fixed size, warm-up, median of many runs.

Measured is the model with its box decoding (no pre-processing, no NMS), on PyTorch (CPU, FP32),
ONNX Runtime (CPU, FP32) and, with a GPU, PyTorch CUDA FP16. Each number carries its device name.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

LOG = logging.getLogger("yololab")


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """CPU model from /proc/cpuinfo plus the logical core count, e.g. 'Intel(R) Xeon(R) Processor (2 cores)'."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "CPU"
    return f"{name} ({os.cpu_count()} cores)"


def cuda_name(index: int = 0) -> str:
    return torch.cuda.get_device_name(index) if torch.cuda.is_available() else "no CUDA device"


def time_runs(run: Callable[[], Any], runs: int, warmup: int, sync: Callable[[], None] = lambda: None) -> dict:
    """Median, mean, min and p90 in ms of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        sync()
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    return {"median_ms": statistics.median(times), "mean_ms": statistics.fmean(times), "min_ms": times[0],
            "p90_ms": times[min(len(times) - 1, int(0.9 * len(times)))], "runs": runs, "warmup": warmup}


def _decoded(model: torch.nn.Module) -> torch.nn.Module:
    from yololab.deploy.graph import DecodedDetector

    return DecodedDetector(model)


def torch_latency(model: torch.nn.Module, imgsz: int, runs: int, warmup: int, device: str = "cpu",
                  half: bool = False) -> dict:
    """PyTorch eager latency of the fused model + decoding, batch 1."""
    probe = _decoded(copy.deepcopy(model).float().eval().fuse().channels_last()).to(device)
    x = torch.rand(1, 3, imgsz, imgsz, device=device)
    if half:
        probe, x = probe.half(), x.half()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        result = time_runs(lambda: probe(x), runs, warmup, sync)
    name = cuda_name(torch.device(device).index or 0) if device.startswith("cuda") else cpu_name()
    return {**result, "device": name, "precision": "fp16" if half else "fp32",
            "threads": torch.get_num_threads() if device == "cpu" else None}


def export_onnx(model: torch.nn.Module, imgsz: int, path: Path) -> Path:
    """Fused model + decoding to ONNX (opset 17, static 1x3xSxS): yololab.deploy's exporter when present."""
    try:
        from yololab.deploy.export import export_model
    except ImportError:
        export_model = None
    if export_model is not None:
        try:
            return Path(export_model(model, "onnx", imgsz=imgsz, out=path, check=False))
        except Exception as err:  # noqa: BLE001 - fall back to the plain export below
            LOG.warning("yololab.deploy export failed (%s: %s); exporting with torch.onnx directly",
                        type(err).__name__, err)
    probe = _decoded(copy.deepcopy(model).float().eval().fuse())
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(probe, (torch.zeros(1, 3, imgsz, imgsz),), str(path), dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["output0"], do_constant_folding=True)
    return path


def onnxruntime_latency(onnx_path: Path, imgsz: int, runs: int, warmup: int, threads: int | None = None) -> dict:
    """ONNX Runtime CPU latency, batch 1, FP32 (all graph optimisations on)."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    result = time_runs(lambda: session.run(None, {name: x}), runs, warmup)
    return {**result, "device": cpu_name(), "precision": "fp32", "threads": threads or os.cpu_count(),
            "onnxruntime": ort.__version__}


def benchmark_model(model: torch.nn.Module, imgsz: int, onnx_path: Path, runs: int = 50, warmup: int = 10,
                    backends: tuple[str, ...] = ("torch", "onnxruntime", "cuda_fp16")) -> dict[str, dict]:
    """Latency per backend: {'torch_cpu': {...}, 'onnxruntime_cpu': {...}, 'cuda_fp16': {...}}.

    A backend that cannot run here is recorded as {'error': ...} (CUDA is simply left out without a GPU).
    """
    out: dict[str, dict] = {}
    model = model.cpu()
    if "torch" in backends:
        out["torch_cpu"] = _guard(lambda: torch_latency(model, imgsz, runs, warmup))
    if "onnxruntime" in backends:
        out["onnxruntime_cpu"] = _guard(
            lambda: onnxruntime_latency(export_onnx(model, imgsz, onnx_path), imgsz, runs, warmup))
    if "cuda_fp16" in backends and torch.cuda.is_available():
        out["cuda_fp16"] = _guard(lambda: torch_latency(model, imgsz, runs, warmup, "cuda:0", half=True))
    return out


def _guard(measure: Callable[[], dict]) -> dict:
    try:
        return measure()
    except Exception as err:  # noqa: BLE001 - one backend failing must not lose the others
        LOG.warning("latency measurement failed: %s: %s", type(err).__name__, err)
        return {"error": f"{type(err).__name__}: {err}"}
