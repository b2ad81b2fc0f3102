"""FP32 vs INT8 side by side: what ``yololab export --int8`` prints, and ``benchmarks/bench_int8.py``.

Per model: COCO mAP on the val split of a data YAML (through ``validate``) and batch-1 model latency
timed by ``timing.time_interleaved`` (the models take turns, so the drifting load of a shared machine
hits them alike). Models are given as label -> path or (path, backend kind).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from yololab.deploy.runtime import timing
from yololab.hardware import load_line


def _spec(spec: Any) -> tuple[Path, str | None]:
    return (Path(spec[0]), spec[1]) if isinstance(spec, tuple) else (Path(spec), None)


def _pair(imgsz: int | Sequence[int]) -> tuple[int, int]:
    return (int(imgsz), int(imgsz)) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[-1]))


def measure_latency(models: dict[str, Any], imgsz: int | tuple[int, int] = 640, runs: int = 30,
                    warmup: int = 5, threads: int | None = None, image: str | os.PathLike | None = None,
                    block: int = 5, pause: float = 0.1) -> dict[str, dict[str, Any]]:
    """Batch-1 model latency (``Backend.infer`` on the letterboxed sample ``image``) of several models,
    interleaved in blocks of ``block`` runs with a ``pause`` before each (see ``time_interleaved``).
    Per model: ``timing.summarize``'s figures, the median CPU ms and the backend's threads."""
    from yololab.deploy.exporting.samples import sample_batch
    from yololab.deploy.runtime.backends import Backend

    backends = {label: Backend(path, threads=threads, kind=kind)
                for label, (path, kind) in ((k, _spec(v)) for k, v in models.items())}
    x = sample_batch(_pair(imgsz), 1, 32, image)
    calls = {label: (lambda b=b: b.infer(x)) for label, b in backends.items()}
    result = timing.time_interleaved(calls, runs, warmup, block, pause)
    return {k: {**v, "backend": backends[k].kind, "threads": backends[k].threads} for k, v in result.items()}


def measure_map(model: Any, data: str | os.PathLike, imgsz: int = 640, split: str = "val",
                batch: int = 16, workers: int = 0) -> dict[str, Any]:
    """COCO mAP of a .pt or exported file (path or (path, backend kind)) on a split of a data YAML,
    through ``validate``: rect batches, or the square letterbox for a fixed-shape export.

    ``workers=0`` by default: forking DataLoader workers from a process that already holds several
    OpenVINO and ONNX Runtime sessions crashed (SIGSEGV) here; loading in-process costs little
    next to inference."""
    from yololab.data import load_data_config, load_split
    from yololab.deploy.runtime.model_adapter import ExportedModel, load_val_model
    from yololab.eval.validate import ValSettings, validate

    path, kind = _spec(model)
    records, _ = load_split(data, split, log=False)
    net = ExportedModel(path, kind=kind) if kind else load_val_model(path)
    net = net.float().fuse().eval()
    settings = ValSettings(image_size=imgsz, batch_size=batch, workers=workers)
    metrics = validate(net, records, load_data_config(data).names, settings, progress=False).metrics
    return {"map50_95": metrics.map50_95, "map50": metrics.map50,
            "images": len(records), "rect": getattr(net, "input_hw", None) is None}


def compare_models(models: dict[str, Any], data: str | os.PathLike, imgsz: int = 640, runs: int = 30,
                   threads: int | None = None, split: str = "val",
                   image: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per model: mAP50-95 / mAP50 on ``split``, and (exported files only) interleaved
    batch-1 latency at ``imgsz`` on the sample ``image``."""
    from yololab.deploy.runtime.backends import backend_kind

    timed = {k: v for k, v in models.items() if _spec(v)[1] or backend_kind(_spec(v)[0]) != "torch"}
    latency = measure_latency(timed, imgsz, runs, threads=threads, image=image) if runs else {}
    return [{"model": label, "path": str(_spec(spec)[0]), **measure_map(spec, data, imgsz, split),
             **latency.get(label, {})} for label, spec in models.items()]


def format_comparison(rows: Sequence[dict[str, Any]], baseline: str | None = None,
                      target: str | None = None) -> str:
    """A plain table (mAP50-95, mAP50, latency median/min/CPU, threads) with the load average; the
    last line compares ``target`` with ``baseline`` (default: the last and first timed rows)."""
    lines = [(f"{'model':<26}{'mAP50-95':>9}{'mAP50':>8}{'median ms':>11}{'min ms':>8}{'CPU ms':>8}"
              f"{'threads':>8}  protocol")]
    for r in rows:
        lat = (f"{r['median_ms']:>11.1f}{r['min_ms']:>8.1f}{r['cpu_median_ms']:>8.1f}"
               f"{r.get('threads') or 'auto':>8}"
               if "median_ms" in r else f"{'-':>11}{'-':>8}{'-':>8}{'-':>8}")
        scores = (f"{r['map50_95']:>9.4f}{r['map50']:>8.4f}" if "map50_95" in r else f"{'-':>9}{'-':>8}")
        protocol = (f"{r['images']} images, {'rect batches' if r['rect'] else 'square letterbox'}"
                    if "images" in r else "latency only")
        lines.append(f"{r['model']:<26}{scores}{lat}  {protocol}")
    timed = [r for r in rows if "median_ms" in r]
    by_label = {r["model"]: r for r in rows}
    a = by_label.get(baseline) if baseline else (timed[0] if timed else None)
    b = by_label.get(target) if target else (timed[-1] if len(timed) > 1 else None)
    if a and b and "median_ms" in a and "median_ms" in b and "map50_95" in a and "map50_95" in b:
        lines.append(f"{b['model']} vs {a['model']}: mAP50-95 {100 * (b['map50_95'] - a['map50_95']):+.2f} "
                     f"points; {a['median_ms'] / b['median_ms']:.2f}x the speed by median wall time "
                     f"({a['cpu_median_ms'] / b['cpu_median_ms']:.2f}x by CPU time)")
    lines.append(load_line())
    return "\n".join(lines)


def compare_int8(weights: str | os.PathLike, int8_path: str | os.PathLike, data: str | os.PathLike,
                 imgsz: int = 640, fmt: str = "onnx", runs: int = 30, threads: int | None = None,
                 sample: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """What ``yololab export --int8`` prints: an FP32 export made like ``int8_path`` (same format,
    size and dynamic setting) beside it, mAP on the val split and interleaved batch-1 latency."""
    from yololab.deploy.exporting.export import FORMATS, export_model
    from yololab.deploy.runtime.backends import Backend

    meta = Backend(int8_path).meta
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_model(weights, fmt, imgsz=imgsz, dynamic=bool(meta.get("dynamic")), check=False,
                            out=Path(tmp) / f"fp32{FORMATS[fmt]}")
        rows = compare_models({"FP32": fp32, "INT8": int8_path}, data, imgsz, runs, threads, image=sample)
    print(format_comparison(rows))
    return rows
