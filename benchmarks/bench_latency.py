"""CPU batch-1 model latency at 640: yololab's backends next to upstream's own ONNX exports.

yolov5n comes from the real upstream checkpoint, yolov5s is randomly initialised (latency only);
each is exported by yololab to ONNX, OpenVINO and TorchScript and timed with the eager fused
PyTorch model, beside upstream's ONNX files (ONNX Runtime, and OpenVINO for reference), all in
this one run. Backends are timed in blocks of runs, rounds alternating between them, so slow drift
of a shared machine spreads over all of them; medians and p90 of >= 30 runs after warm-up.

    python benchmarks/bench_latency.py [--runs 36] [--threads N] [--json out.json]
        [--upstream-yolov5 /tmp/yolov5]   # + upstream's own PyTorch eager model (fused), same run

``--upstream-yolov5`` needs a checkout of ultralytics/yolov5 and its requirements importable from this
python (e.g. a venv made with --system-site-packages plus pandas, requests, seaborn, scipy).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from yololab.deploy.exporting.export import export_model
from yololab.deploy.exporting.samples import sample_batch
from yololab.deploy.runtime import timing
from yololab.deploy.runtime.backends import Backend
from yololab.hardware import cpu_name, load_average

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IMGSZ = 640


def _versions() -> str:
    import onnxruntime

    parts = [f"python {platform.python_version()}", f"torch {torch.__version__}",
             f"onnxruntime {onnxruntime.__version__}"]
    try:
        import openvino

        parts.append(f"openvino {openvino.__version__.split('-')[0]}")
    except ImportError:
        pass
    return ", ".join(parts)


class UpstreamEager:
    """Upstream YOLOv5's own PyTorch model (its code, fused, eval), timed like a backend."""

    def __init__(self, yolov5: Path, name: str, threads: int | None) -> None:
        if str(yolov5) not in sys.path:
            sys.path.insert(0, str(yolov5))
        from models.experimental import attempt_load  # upstream's code, run only for this comparison
        from models.yolo import Model

        if threads:
            torch.set_num_threads(threads)
        if name == "yolov5n":
            self.model = attempt_load(str(SHARED / "weights" / "yolov5n.pt"), device="cpu", fuse=True)
        else:
            torch.manual_seed(0)
            self.model = Model(str(yolov5 / "models" / f"{name}.yaml")).fuse()
        self.model.float().eval()
        self.threads = torch.get_num_threads()

    def infer(self, images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(images))[0].numpy()


def _backends(name: str, pt: Path, upstream: Path | None, tmp: Path, threads: int | None,
              yolov5: Path | None = None, sample: Path | None = None) -> dict[str, Backend]:
    """Label -> backend for one model (exports made here, each parity-checked on ``sample``)."""
    out: dict[str, Backend] = {"yololab torch eager (fused)": Backend(pt, threads=threads)}
    if yolov5 is not None:
        out["upstream torch eager (fused)"] = UpstreamEager(yolov5, name, threads)
    onnx_path = export_model(pt, "onnx", IMGSZ, dynamic=False, out=tmp / f"{name}.onnx", sample=sample)
    out["yololab onnx + onnxruntime"] = Backend(onnx_path, threads=threads)
    try:
        xml = export_model(pt, "openvino", IMGSZ, dynamic=False, out=tmp / f"{name}_openvino_model", sample=sample)
        out["yololab openvino IR (f32)"] = Backend(xml, threads=threads)
        out["yololab openvino IR (bf16, not FP32)"] = Backend(xml, threads=threads, kind="openvino-bf16")
    except ImportError:
        print("openvino not installed: its rows are left out", file=sys.stderr)
    ts = export_model(pt, "torchscript", IMGSZ, dynamic=False, out=tmp / f"{name}.torchscript", sample=sample)
    out["yololab torchscript (frozen)"] = Backend(ts, threads=threads)
    if upstream is not None and upstream.is_file():
        out["upstream onnx + onnxruntime"] = Backend(upstream, threads=threads)
        if "yololab openvino IR (f32)" in out:
            out["upstream onnx + openvino (f32)"] = Backend(upstream, threads=threads, kind="openvino")
    else:
        print(f"upstream ONNX not found at {upstream}: baseline rows left out", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=36, help="timed runs per backend (>= 30)")
    ap.add_argument("--block", type=int, default=6, help="consecutive runs per backend per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="threads for every backend (default: each one's)")
    ap.add_argument("--shared", type=Path, default=SHARED, help="folder with weights/ (../shared)")
    ap.add_argument("--sample", type=Path, default=None,
                    help="image to time on (default: the first coco128 val2017 image under --shared)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON")
    ap.add_argument("--upstream-yolov5", type=Path, default=None,
                    help="ultralytics/yolov5 checkout: also time upstream's PyTorch eager model")
    ap.add_argument("--models", nargs="+", default=["yolov5n", "yolov5s"], choices=["yolov5n", "yolov5s"])
    args = ap.parse_args(argv)
    weights = args.shared / "weights"
    if not (weights / "yolov5n.pt").is_file():
        print(f"skipped: {weights / 'yolov5n.pt'} not found (the real checkpoint is needed)")
        return 0
    from yololab import build_model
    from yololab.models.checkpoints import save_model

    sample = args.sample or next(iter(sorted((args.shared / "data" / "coco128" / "images" / "val2017")
                                             .glob("*.jpg"))), None)
    x = sample_batch((IMGSZ, IMGSZ), 1, 32, sample)
    load0 = load_average() or (0.0,) * 3
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        torch.manual_seed(0)
        save_model(build_model("yolov5s"), tmp / "yolov5s_random.pt")
        models = [("yolov5n", weights / "yolov5n.pt", weights / "upstream_yolov5n.onnx"),
                  ("yolov5s", tmp / "yolov5s_random.pt", weights / "upstream_yolov5s_random_init.onnx")]
        for name, pt, upstream in models:
            if name not in args.models:
                continue
            backends = _backends(name, pt, upstream, tmp, args.threads, args.upstream_yolov5, sample)
            calls = {label: (lambda b=b: b.infer(x)) for label, b in backends.items()}
            for label, t in timing.time_interleaved(calls, args.runs, args.warmup, args.block).items():
                rows.append({"model": name, "backend": label, **t, "threads": backends[label].threads})
            del backends
    load1 = load_average() or (0.0,) * 3
    machine = (f"{cpu_name()}; {_versions()}; load average "
               f"{load0[0]:.2f} before, {load1[0]:.2f} after")
    print(f"\nCPU batch-1 model latency at {IMGSZ}x{IMGSZ} (model call only, FP32, image: "
          f"{sample.name if sample else 'synthetic'})\nmachine: {machine}\n")
    print("| model | backend | median ms | p90 ms | vs upstream ORT | runs | threads |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        base = next((b["median_ms"] for b in rows if b["model"] == r["model"]
                     and b["backend"] == "upstream onnx + onnxruntime"), None)
        ratio = f"{r['median_ms'] / base:.2f}x" if base else "-"
        print(f"| {r['model']} | {r['backend']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {ratio} | "
              f"{r['runs']} | {r['threads'] or 'default'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "imgsz": IMGSZ, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
