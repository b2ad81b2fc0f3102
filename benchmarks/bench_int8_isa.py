"""ONNX Runtime INT8 accuracy per CPU instruction set: FP32 vs INT8 weight schemes, natively and
on an emulated AVX2-only CPU.

ONNX Runtime's U8S8 integer kernels on x86 CPUs without VNNI (AVX2: VPMADDUBSW) add pairs of
u8 x s8 products in saturating 16 bits, so a model whose INT8 weights use the full [-127, 127]
range computes wrong convolutions there and only there. This exports yolov5n FP32 and INT8 with
each weight scheme (``s8-7bit``: ORT's reduce_range, stem in float; ``s8``: full range; ``u8``:
U8U8), natively, then measures COCO mAP on the first ``--images`` coco128 val2017 images on each ``--cpus`` entry:
``native``, or a QEMU CPU model (``Haswell``, ``EPYC``: AVX2, no AVX-512/VNNI) run through
``qemu-x86_64 -cpu MODEL`` (Debian: apt-get install qemu-user). QEMU emulates CPUID, which is what
ONNX Runtime's MLAS dispatches on (its /proc/cpuinfo is the host's); each run first probes whether
a U8S8 integer GEMM saturates there (``saturation.u8s8_saturates``) and prints it. FP32 runs natively
only (no integer kernels). Slow under QEMU (about 25 s per 640 image on this machine).

    python benchmarks/bench_int8_isa.py [--images 32] [--cpus native,Haswell] [--keep DIR [--reuse]] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _measure(path: str, data: str, imgsz: int) -> int:
    """Worker (possibly under QEMU): print one JSON line with the probe and the model's mAP."""
    import onnxruntime

    from yololab.deploy.exporting.int8_report import measure_map
    from yololab.deploy.runtime.saturation import u8s8_saturates

    started = time.perf_counter()
    row = {"u8s8_saturates": u8s8_saturates(), "onnxruntime": onnxruntime.__version__,
           **measure_map(path, data, imgsz, batch=1)}
    print(json.dumps({**row, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


def _subset_yaml(data_root: Path, images: int, folder: Path) -> Path:
    """A data YAML with coco128's train split and its first ``images`` val2017 images."""
    folder.mkdir(parents=True, exist_ok=True)
    val = sorted((data_root / "images" / "val2017").glob("*.jpg"))[:images]
    train = sorted((data_root / "images" / "train2017").glob("*.jpg"))
    (folder / "val.txt").write_text("\n".join(map(str, val)) + "\n")
    (folder / "train.txt").write_text("\n".join(map(str, train)) + "\n")
    names = (data_root / "data.yaml").read_text().split("names:", 1)[1]
    (folder / "data.yaml").write_text(f"path: {folder}\ntrain: train.txt\nval: val.txt\nnames:{names}")
    return folder / "data.yaml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolov5n.pt"))
    p.add_argument("--data-root", default=str(SHARED / "data" / "coco128"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--images", type=int, default=32, help="first N val2017 images (coco128 has 128)")
    p.add_argument("--calib-images", type=int, default=128, help="coco128 train2017 images to calibrate on")
    p.add_argument("--schemes", default="s8-7bit,s8,u8", help="INT8 weight schemes to compare")
    p.add_argument("--cpus", default="native,Haswell", help="'native' or QEMU -cpu models, comma-separated")
    p.add_argument("--keep", default=None, help="write the exports here (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true", help="with --keep: reuse the exports already there")
    p.add_argument("--json", default=None, help="write all rows as JSON here")
    p.add_argument("--measure", nargs=3, metavar=("MODEL", "DATA", "IMGSZ"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        return _measure(args.measure[0], args.measure[1], int(args.measure[2]))
    for path in (args.weights, args.data_root):
        if not Path(path).exists():
            print(f"skipped: {path} not found (the real data lives in ../shared beside the checkout)")
            return 0
    cpus = args.cpus.split(",")
    qemu = shutil.which("qemu-x86_64")
    if any(c != "native" for c in cpus) and not qemu:
        print("skipped: qemu-x86_64 not found (Debian: apt-get install qemu-user)")
        return 0

    from yololab.deploy.exporting.export import export_model
    from yololab.hardware import cpu_flags, cpu_name, has_vnni

    print(f"host CPU: {cpu_name()}, VNNI: {has_vnni()}, AVX-512F: {'avx512f' in cpu_flags()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        data = _subset_yaml(Path(args.data_root), args.images, out / "data")
        full = Path(args.data_root) / "data.yaml"
        models = {"FP32": out / "fp32.onnx"}
        models.update({f"INT8 {s}": out / f"int8_{s}.onnx" for s in args.schemes.split(",")})
        for label, path in models.items():
            if args.reuse and path.exists():
                continue
            started = time.perf_counter()
            int8 = ({"int8": True, "data": full, "calib_images": args.calib_images,
                     "int8_weights": label.split()[1]} if label != "FP32" else {})
            export_model(args.weights, "onnx", imgsz=args.imgsz, dynamic=True, out=path, check=False, **int8)
            print(f"export {path.name}: {time.perf_counter() - started:.0f} s", flush=True)
        python = os.path.realpath(sys.executable)
        for cpu in cpus:
            prefix = [] if cpu == "native" else [qemu, "-cpu", cpu]
            for label, path in models.items():
                if cpu != "native" and label == "FP32":
                    continue  # FP32 has no 16-bit saturation; QEMU is slow: measured natively only
                cmd = [*prefix, python, __file__, "--measure", str(path), str(data), str(args.imgsz)]
                done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
                if done.returncode:
                    print(f"{cpu} {label}: failed ({done.returncode})\n{done.stderr[-2000:]}")
                    continue
                row = {"cpu": cpu, "model": label, **json.loads(done.stdout.strip().splitlines()[-1])}
                rows.append(row)
                print(f"{cpu:<10}{label:<16} mAP50-95 {row['map50_95']:.4f}  mAP50 {row['map50']:.4f}  "
                      f"{row['images']} images (rect, batch 1)  U8S8 saturates: {row['u8s8_saturates']}  "
                      f"{row['seconds']:.0f} s", flush=True)
            fp32 = next((r for r in rows if r["cpu"] == "native" and r["model"] == "FP32"), None)
            for r in rows:
                if fp32 and r["cpu"] == cpu and r is not fp32:
                    delta = 100 * (r["map50_95"] - fp32["map50_95"])
                    print(f"  {cpu} {r['model']} vs native FP32: mAP50-95 {delta:+.2f} points")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
