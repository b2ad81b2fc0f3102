"""``yololab bench``: per-stage CPU latency (preprocess, model, NMS) and throughput of one backend.

A .pt ``--weights`` with ``--backend onnxruntime|openvino|torchscript`` is exported first (to a
temporary folder, at the benchmark's image size and batch); an exported file runs as it is.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from yololab.deploy.backends import EXPORT_FORMAT, KINDS, backend_kind, check_backend_fits
from yololab.deploy.images import load_image
from yololab.deploy.pipeline import Predictor
from yololab.deploy.samples import find_sample_image, synthetic_image



def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_string(threads: int | None) -> str:
    return f"CPU: {cpu_name()}, {os.cpu_count()} logical cores, threads={threads or 'default'}"


def time_ms(fn: Callable[[], Any], runs: int, warmup: int) -> np.ndarray:
    """Wall-clock milliseconds of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1000
    return out


def _weights_for(weights: Path, backend: str, imgsz: int, batch: int, tmp: str) -> Path:
    """The file to benchmark: ``weights`` itself, or a fresh export of a .pt for ``backend``."""
    from yololab.deploy.export import FORMATS, export_model

    kind = backend_kind(weights)
    if kind == "torch" and backend != "torch":
        fmt = EXPORT_FORMAT[backend]
        return export_model(weights, fmt, imgsz=imgsz, batch=batch, out=Path(tmp) / f"model{FORMATS[fmt]}")
    check_backend_fits(weights, backend)
    return weights


def run_bench(weights: str | os.PathLike, backend: str = "torch", imgsz: int = 640, batch: int = 1,
              threads: int | None = None, runs: int = 50, warmup: int = 10,
              image: str | os.PathLike | None = None) -> dict[str, Any]:
    """Median and p90 (ms) of preprocess, model and postprocess, and end-to-end fps."""
    if backend not in KINDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(KINDS)}")
    if runs < 1 or batch < 1:
        raise ValueError("runs and batch must be >= 1")
    path = find_sample_image(image)
    picture = load_image(path) if path is not None else synthetic_image()
    with tempfile.TemporaryDirectory() as tmp:
        model_path = _weights_for(Path(weights), backend, imgsz, batch, tmp)
        predictor = Predictor(model_path, imgsz, conf=0.25, iou=0.45, threads=threads, backend=backend)
        images = [picture] * batch
        x, infos = predictor.preprocess(images)
        raw = predictor.infer(x)
        pre = time_ms(lambda: predictor.preprocess(images), runs, warmup)
        model = time_ms(lambda: predictor.infer(x), runs, warmup)
        post = time_ms(lambda: predictor.postprocess(raw, infos), runs, warmup)
        total = time_ms(lambda: predictor.postprocess(predictor.infer(predictor.preprocess(images)[0]), infos),
                        max(runs // 2, 1), 2)
        info = predictor.backend.info()
    return {
        "weights": str(weights), "backend": backend, "imgsz": imgsz, "batch": batch,
        "threads": info["threads"], "runs": runs, "warmup": warmup, "image": str(path or "synthetic"),
        "device": device_string(threads),
        "preprocess_ms": float(np.median(pre)), "inference_ms": float(np.median(model)),
        "postprocess_ms": float(np.median(post)),
        "preprocess_p90_ms": float(np.percentile(pre, 90)), "inference_p90_ms": float(np.percentile(model, 90)),
        "postprocess_p90_ms": float(np.percentile(post, 90)),
        "end_to_end_ms": float(np.median(total)), "fps": float(batch * 1000 / np.median(total)),
    }


def format_bench(r: dict[str, Any]) -> str:
    return (f"{r['backend']} {Path(r['weights']).name} {r['imgsz']}px batch {r['batch']} "
            f"threads {r['threads']} ({r['runs']} runs, {r['device']})\n"
            f"  preprocess  {r['preprocess_ms']:8.2f} ms median  {r['preprocess_p90_ms']:8.2f} ms p90\n"
            f"  model       {r['inference_ms']:8.2f} ms median  {r['inference_p90_ms']:8.2f} ms p90\n"
            f"  NMS         {r['postprocess_ms']:8.2f} ms median  {r['postprocess_p90_ms']:8.2f} ms p90\n"
            f"  end to end  {r['end_to_end_ms']:8.2f} ms median  -> {r['fps']:.1f} images/s")


def write_json(result: dict[str, Any], path: str | os.PathLike) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2))
