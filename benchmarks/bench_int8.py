"""FP32 vs INT8 (post-training static quantization) for yolov5n from the real checkpoint, at 640.

Exports the checkpoint to ONNX and OpenVINO (FP32, dynamic shapes so that validation uses the same
rect batches as the .pt) and to INT8 (ONNX Runtime static quantization, QDQ; OpenVINO via NNCF; both
calibrated on coco128 *train2017*), then prints, in this one run: COCO mAP50-95 / mAP50 on coco128
*val2017* of the .pt and of every export, and the batch-1 640x640 model latency of the exports (median / min wall time and
median CPU time of >= 30 runs after warm-up, the two taking turns in blocks of 5 runs so that the
drifting load of this shared machine hits them alike), with 1 and 2 threads. The load average is
printed with each table: compare rows within a table only. mAP is measured on dynamic-shape exports
(rect batches, the .pt's protocol); latency on static 640x640 exports (what one deploys: OpenVINO is
markedly slower on dynamic shapes), beside upstream's own ONNX export with ONNX Runtime.

    python benchmarks/bench_int8.py [--calib-images 300] [--runs 30] [--threads 1,2] [--keep DIR [--reuse]] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
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
    p.add_argument("--sample", default=None,
                   help="image for parity checks and latency (default: the first coco128 val2017 image)")
    args = p.parse_args(argv)
    for path in (args.weights, args.data):
        if not Path(path).exists():
            print(f"skipped: {path} not found (the real data lives in ../shared beside the checkout)")
            return 0

    import onnxruntime

    sample = args.sample or next(iter(sorted((SHARED / "data" / "coco128" / "images" / "val2017")
                                             .glob("*.jpg"))), None)

    from yololab.deploy.exporting.export import export_model
    from yololab.deploy.exporting.int8_report import format_comparison, measure_latency, measure_map
    from yololab.hardware import cpu_name, load_line

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f" {f}" in flags]
    print(f"CPU: {cpu_name()}, INT8 ISA: {', '.join(isa) or 'none'}; "
          f"onnxruntime {onnxruntime.__version__}")
    print(load_line())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        dynamic_files: dict[str, Path] = {}  # for mAP: rect batches, the .pt's protocol
        static_files: dict[str, Path] = {}  # for latency: the fixed 640x640 files one deploys
        for fmt, runtime in (("onnx", "onnxruntime"), ("openvino", "openvino")):
            for precision in ("FP32", "INT8"):
                label = f"{precision} {runtime}"
                for dynamic, files in ((True, dynamic_files), (False, static_files)):
                    stem = f"yolov5n_{precision.lower()}_{'dynamic' if dynamic else 'static'}"
                    path = out / (f"{stem}.onnx" if fmt == "onnx" else f"{stem}_openvino_model")
                    if not (args.reuse and path.exists()):
                        started = time.perf_counter()
                        int8 = {"int8": True, "data": args.data, "calib_images": args.calib_images,
                                **({"calib_method": args.calib_method} if fmt == "onnx" else {})}
                        export_model(args.weights, fmt, imgsz=args.imgsz, dynamic=dynamic, out=path,
                                     sample=sample, **(int8 if precision == "INT8" else {}))
                        print(f"export {path.name}: {time.perf_counter() - started:.0f} s")
                    files[label] = path
        upstream = SHARED / "weights" / "upstream_yolov5n.onnx"
        if upstream.is_file():
            static_files["upstream FP32 onnxruntime"] = upstream
        maps = {label: measure_map(path, args.data, args.imgsz) for label, path in dynamic_files.items()}
        maps[".pt (PyTorch)"] = measure_map(args.weights, args.data, args.imgsz)
        tables = []
        for threads in (int(t) for t in args.threads.split(",")):
            latency = measure_latency(static_files, args.imgsz, args.runs, threads=threads, image=sample)
            rows = [{"model": ".pt (PyTorch)", **maps[".pt (PyTorch)"]}]
            rows += [{"model": label, **maps.get(label, {}), **latency[label]} for label in static_files]
            tables.append((threads, rows, load_line()))
            print(f"\n== {threads} thread{'s' if threads > 1 else ''}, batch 1: mAP on coco128 val2017 (dynamic "
                  f"exports, rect batches), latency of static {args.imgsz}x{args.imgsz} exports, {args.runs} runs ==")
            print(format_comparison(rows, baseline="FP32 onnxruntime", target="INT8 onnxruntime"))
            fastest_fp32 = min((r for r in rows if r["model"].startswith("FP32")), key=lambda r: r["median_ms"])
            for r in rows:
                if r["model"].startswith("INT8"):
                    print(f"{r['model']} vs the fastest FP32 ({fastest_fp32['model']}): mAP50-95 "
                          f"{100 * (r['map50_95'] - fastest_fp32['map50_95']):+.2f} points, "
                          f"{fastest_fp32['median_ms'] / r['median_ms']:.2f}x the speed")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"tables": [
            {"threads": t, "rows": rows, "load": load} for t, rows, load in tables]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
