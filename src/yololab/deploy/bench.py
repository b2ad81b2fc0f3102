"""``yololab bench``: per-stage CPU latency (preprocess, model, NMS) and throughput of one backend.

A .pt ``--weights`` with ``--backend onnxruntime|openvino|torchscript`` is exported first (to a
temporary folder, at the benchmark's image size and batch); an exported file runs as it is. The
model stage is ``timing.time_backend``, the same measurement as the compare cells' latency
(``model_latency``), so both print one figure for one model and backend.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yololab.deploy.exporting.samples import sample_batch, sample_image, sample_name
from yololab.deploy.runtime import timing
from yololab.deploy.runtime.backends import EXPORT_FORMAT, KINDS, Backend, backend_kind, check_backend_fits
from yololab.deploy.runtime.pipeline import Predictor
from yololab.device import DEFAULT_DEVICE
from yololab.hardware import cpu_name, cuda_name


def device_string(threads: int | None, device: str = "cpu") -> str:
    """What ran the model: 'CPU: <name>, threads=N', or 'CUDA: <name> (cuda:N)'."""
    if device == "cpu":
        return f"CPU: {cpu_name()}, threads={threads or 'the backend default'}"
    return f"CUDA: {cuda_name(int(device.partition(':')[2] or 0))} ({device})"


def model_for_backend(weights: str | os.PathLike, backend: str, imgsz: int, batch: int,
                      folder: str | os.PathLike, sample: str | os.PathLike | None = None,
                      stem: str = "model") -> Path:
    """The file ``backend`` runs: ``weights`` itself, or a fresh export of a .pt into ``folder``
    (``<stem>.onnx``, ``<stem>_openvino_model``, ``<stem>.torchscript``), parity-checked on ``sample``.
    The export is static (``imgsz`` x ``imgsz``, ``batch``): latency is timed on the fixed-shape file
    one deploys, as before exports became dynamic by default."""
    from yololab.deploy.exporting.export import FORMATS, export_model

    weights = Path(weights)
    if backend not in KINDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(KINDS)}")
    if backend_kind(weights) == "torch" and backend != "torch":
        fmt = EXPORT_FORMAT[backend]
        return export_model(weights, fmt, imgsz=imgsz, batch=batch, dynamic=False, sample=sample,
                            out=Path(folder) / f"{stem}{FORMATS[fmt]}")
    check_backend_fits(weights, backend)
    return weights


def model_latency(weights: str | os.PathLike, backend: str, imgsz: int, folder: str | os.PathLike,
                  runs: int = 50, warmup: int = 10, threads: int | None = None, batch: int = 1,
                  sample: str | os.PathLike | None = None, stem: str = "model") -> dict[str, Any]:
    """Model latency (``timing.time_backend``) of ``weights`` on ``backend``, exported into
    ``folder`` first (see ``model_for_backend``) when it is a .pt and ``backend`` runs exported files."""
    path = model_for_backend(weights, backend, imgsz, batch, folder, sample, stem)
    model = Backend(path, threads=threads, kind=backend)
    x = sample_batch((imgsz, imgsz), batch, model.stride, sample, model.in_channels)
    return {**timing.time_backend(model, x, runs, warmup), "file": str(path), "imgsz": imgsz}


@dataclass(frozen=True)
class BenchResult:
    """``yololab bench``'s figures (ms: medians unless named p90 or std) and what ran them; the JSON's keys
    are the field names. ``device`` describes what ran the model, ``runtime_device`` names it ('cpu',
    'cuda:0'), ``requested_device`` is the ``--device`` asked for."""

    weights: str
    backend: str
    imgsz: int
    batch: int
    threads: int | None
    runs: int
    warmup: int
    image: str
    device: str
    runtime_device: str
    requested_device: str
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    preprocess_p90_ms: float
    inference_p90_ms: float
    postprocess_p90_ms: float
    inference_std_ms: float
    end_to_end_ms: float
    end_to_end_p90_ms: float
    fps: float                            # end-to-end images per second (batch / the end-to-end median)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``yololab bench --json``)."""
        return dataclasses.asdict(self)


def run_bench(weights: str | os.PathLike, backend: str = "torch", imgsz: int = 640, batch: int = 1,
              threads: int | None = None, runs: int = 50, warmup: int = 10,
              image: str | os.PathLike | None = None, device: str | None = DEFAULT_DEVICE) -> BenchResult:
    """Median and p90 (ms) of preprocess, model and postprocess, and end-to-end fps, on ``image``
    (default: the synthetic sample image). ``device``: a ``--device`` string; the JSON's
    ``runtime_device`` is what ran the model ('cpu', 'cuda:0'), ``device`` describes it."""
    if backend not in KINDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(KINDS)}")
    if runs < 1 or batch < 1:
        raise ValueError("runs and batch must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        model_path = model_for_backend(weights, backend, imgsz, batch, tmp, image)
        predictor = Predictor(model_path, imgsz, conf=0.25, iou=0.45, threads=threads, backend=backend,
                              device=device)
        images = [sample_image(image, predictor.backend.in_channels)] * batch
        x, infos = predictor.preprocess(images)
        model = timing.time_backend(predictor.backend, x, runs, warmup,
                                    pre=lambda: predictor.preprocess(images)[0],
                                    post=lambda raw: predictor.postprocess(raw, infos))
        info = predictor.backend.info()
    pre, post, total = (model["stages"][k] for k in ("preprocess", "postprocess", "total"))
    return BenchResult(
        weights=str(weights), backend=backend, imgsz=imgsz, batch=batch, threads=info["threads"], runs=runs,
        warmup=warmup, image=sample_name(image), device=device_string(info["threads"], info["device"]),
        runtime_device=info["device"], requested_device=DEFAULT_DEVICE if device is None else str(device),
        preprocess_ms=pre["median_ms"], inference_ms=model["median_ms"], postprocess_ms=post["median_ms"],
        preprocess_p90_ms=pre["p90_ms"], inference_p90_ms=model["p90_ms"], postprocess_p90_ms=post["p90_ms"],
        inference_std_ms=model["std_ms"], end_to_end_ms=total["median_ms"], end_to_end_p90_ms=total["p90_ms"],
        fps=batch * 1000 / total["median_ms"])


def format_bench(r: BenchResult) -> str:
    """The printed benchmark: every run is one pipeline pass timed stage by stage, so the medians come
    from the same runs and end to end (their per-run sum) is never below a stage's median."""
    return (f"{r.backend} {Path(r.weights).name} {r.imgsz}px batch {r.batch} "
            f"({r.runs} runs after {r.warmup} warm-up, image {r.image}, {r.device})\n"
            f"  preprocess  {r.preprocess_ms:8.2f} ms median  {r.preprocess_p90_ms:8.2f} ms p90\n"
            f"  model       {r.inference_ms:8.2f} ms median  {r.inference_p90_ms:8.2f} ms p90\n"
            f"  NMS         {r.postprocess_ms:8.2f} ms median  {r.postprocess_p90_ms:8.2f} ms p90\n"
            f"  end to end  {r.end_to_end_ms:8.2f} ms median  {r.end_to_end_p90_ms:8.2f} ms p90"
            f"  -> {r.fps:.1f} images/s (median of the per-run sums)")

