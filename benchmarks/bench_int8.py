"""FP32 vs INT8 (post-training static quantization) for yolov5n from the real checkpoint, at 640.

Exports the checkpoint to ONNX (FP32, dynamic shapes so that validation uses the same rect batches
as the .pt) and to INT8 (ONNX Runtime static quantization, QDQ, calibrated on coco128 *train2017*),
then prints, in this one run: COCO mAP50-95 / mAP50 on coco128 *val2017* of the .pt, FP32 and INT8
(ONNX Runtime), and the batch-1 640x640 model latency of both exports (median / min wall time and
median CPU time of >= 30 runs after warm-up, the two taking turns in blocks of 5 runs so that the
drifting load of this shared machine hits them alike), with 1 and 2 threads. The load average is
printed with each table: compare rows within a table only.

    python benchmarks/bench_int8.py [--calib-images 300] [--runs 30] [--threads 1,2] [--keep DIR [--reuse]] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolov5n.pt"))
    p.add_argument("--data", default=str(SHARED / "data" / "coco128" / "data.yaml"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--calib-images", type=int, default=300)
    p.add_argument("--calib-method", default="percentile", choices=["minmax", "percentile", "entropy"])
    p.add_argument("--runs", type=int, default=30, help="timed runs per model and thread count (>= 20)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts to time with")
    p.add_argument("--keep", default=None, help="write the exports here (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true", help="with --keep: reuse the exports already there")
    p.add_argument("--json", default=None, help="write all rows as JSON here")
    args = p.parse_args(argv)
    for path in (args.weights, args.data):
        if not Path(path).exists():
            print(f"skipped: {path} not found (the real data lives in ../shared beside the checkout)")
            return 0

    import onnxruntime

    from yololab.deploy.bench import cpu_name
    from yololab.deploy.export import export_model
    from yololab.deploy.quantize import compare_models, format_comparison, load_line, measure_map

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f" {f}" in flags]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs, INT8 ISA: {', '.join(isa) or 'none'}; "
          f"onnxruntime {onnxruntime.__version__}")
    print(load_line())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        fp32, int8 = out / "yolov5n_fp32.onnx", out / "yolov5n_int8.onnx"
        if not (args.reuse and fp32.is_file()):
            export_model(args.weights, "onnx", imgsz=args.imgsz, dynamic=True, out=fp32)
        if not (args.reuse and int8.is_file()):
            started = time.perf_counter()
            export_model(args.weights, "onnx", imgsz=args.imgsz, dynamic=True, int8=True, data=args.data,
                         calib_images=args.calib_images, calib_method=args.calib_method, out=int8)
            print(f"INT8 export (calibration included): {time.perf_counter() - started:.0f} s")
        models = {"FP32 onnxruntime": fp32, "INT8 onnxruntime": int8}
        results: dict = {"pt": {"model": ".pt (PyTorch)", **measure_map(args.weights, args.data, args.imgsz)}}
        tables = []
        for i, threads in enumerate(int(t) for t in args.threads.split(",")):
            # mAP once (first table); latency for every thread count
            rows = compare_models(models, args.data, args.imgsz, args.runs, threads) if i == 0 else None
            if rows is None:
                from yololab.deploy.quantize import measure_latency

                lat = measure_latency(models, args.imgsz, args.runs, threads=threads)
                rows = [{**r, **lat[r["model"]]} for r in tables[0][1]]
            tables.append((threads, rows, load_line()))
            print(f"\n== {threads} thread{'s' if threads > 1 else ''}, batch 1, {args.imgsz}x{args.imgsz}, "
                  f"{args.runs} runs per model ==")
            print(format_comparison([results["pt"], *rows]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"pt": results["pt"], "tables": [
            {"threads": t, "rows": rows, "load": load} for t, rows, load in tables]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
