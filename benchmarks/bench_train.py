"""Training throughput on this machine, side by side with the upstream figures measured here.

    python benchmarks/bench_train.py [--models yolov5n yolov5s] [--imgsz 640] [--batch 16] [--batches 5]

Prints, for coco128 train2017 (../shared/data/coco128):
  * training images/s of each model (mosaic augmentation, 2 loader workers, forward + loss + backward +
    optimizer step + EMA, data loading included), the median of ``--batches`` steady-state batches after
    ``--warmup`` batches;
  * data-loader throughput alone (mosaic + random perspective + HSV + flip, no model);
  * the wall time of ``yololab val`` (yolov5n.pt, coco128 val2017, 640, batch 16) as a subprocess.

With ``--upstream /path/to/yolov5`` (a checkout of ultralytics/yolov5, and ``--upstream-python`` with
its requirements installed) upstream's own train.py runs the same model, size, batch and workers for
one epoch in the same run (scratch for yolov5s, yolov5n.pt for yolov5n, ``--noval --noplots``); its
seconds per batch are the median gap between tqdm updates after the same warm-up.

Upstream reference on this machine (DATA.md): train.py yolov5n 640 batch 16 CPU: 5.0-5.3 s per batch
(about 3.1 images/s); val.py 63 s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_loader import time_batches  # benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COCO128 = SHARED / "data" / "coco128" / "data.yaml"
YOLOV5N = SHARED / "weights" / "yolov5n.pt"


def bench_training(model: str, imgsz: int, batch: int, warmup: int, batches: int, workers: int) -> dict:
    from yololab.train.config import TrainConfig
    from yololab.train.trainer import Trainer

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(model=model, data=str(COCO128), imgsz=imgsz, batch=batch, epochs=1, workers=workers,
                          out=out, progress=False, plots=False)
        trainer = Trainer(cfg)
        trainer.setup()
        trainer.train_one_epoch(0, max_batches=warmup + batches)
        times = trainer.batch_seconds[warmup:]
    per_batch = statistics.median(times)
    return {"model": model, "seconds_per_batch": per_batch, "images_per_second": batch / per_batch,
            "all_batches": [round(t, 2) for t in trainer.batch_seconds]}


def _seconds(text: str) -> float:
    """tqdm's elapsed field: '38.5s', '1:02' or '1:02:03'."""
    if text.endswith("s"):
        return float(text[:-1])
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    return total


def bench_upstream_training(yolov5: Path, python: str, model: str, imgsz: int, batch: int, warmup: int,
                            workers: int) -> dict:
    """Upstream train.py for one epoch; seconds per batch from the elapsed times of its progress bar."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "coco128.yaml"
        data.write_text(COCO128.read_text().replace("path: .", f"path: {COCO128.parent}", 1))
        init = ["--weights", str(YOLOV5N)] if model == "yolov5n" else ["--cfg", f"models/{model}.yaml",
                                                                       "--weights", ""]
        cmd = [python, "train.py", *init, "--data", str(data), "--epochs", "1", "--img", str(imgsz),
               "--batch", str(batch), "--device", "cpu", "--workers", str(workers), "--noval", "--noplots",
               "--project", tmp, "--name", "run"]
        proc = subprocess.run(cmd, cwd=yolov5, capture_output=True, text=True)
    log = (proc.stdout + proc.stderr).replace("\r", "\n")
    if proc.returncode:
        raise SystemExit(f"upstream train.py failed:\n{log[-2000:]}")
    elapsed: dict[int, float] = {}
    for line in log.splitlines():
        m = re.search(r" 0/0 .* (\d+)/(\d+) [\d.]+s/it ([\d:.]+s?)", line)
        if m:
            elapsed.setdefault(int(m.group(1)), _seconds(m.group(3)))  # bars repeat the last line
    steps = [elapsed[i] - elapsed[i - 1] for i in sorted(elapsed) if i - 1 in elapsed and i > warmup]
    if not steps:
        raise SystemExit(f"could not read batch times from upstream's output:\n{log[-2000:]}")
    per_batch = statistics.median(steps)
    return {"model": model, "seconds_per_batch": per_batch, "images_per_second": batch / per_batch,
            "all_batches": [round(t, 2) for t in steps]}


def bench_loader(imgsz: int, batch: int, batches: int, workers: int) -> float:
    from yololab.data import AugmentConfig, DetectionDataset, create_dataloader, load_split

    records, _ = load_split(COCO128, "train", log=False)
    dataset = DetectionDataset(records, imgsz, augment=True, aug=AugmentConfig(), batch_size=batch)
    loader = create_dataloader(dataset, batch, shuffle=True, workers=workers, seed=0)
    timed = time_batches(loader, batches)  # the loader benchmark's timing loop
    return timed["images"] / timed["seconds"]


def bench_val_cli() -> float:
    cmd = [sys.executable, "-m", "yololab", "val", "--weights", str(YOLOV5N), "--data", str(COCO128),
           "--imgsz", "640", "--batch", "16"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"yololab val failed:\n{proc.stderr[-2000:]}")
    print(proc.stdout.strip())
    return seconds


def bench_upstream_val(yolov5: Path, python: str) -> float:
    """Wall seconds of upstream val.py on the same checkpoint, data, size and batch."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "coco128.yaml"
        data.write_text(COCO128.read_text().replace("path: .", f"path: {COCO128.parent}", 1))
        cmd = [python, "val.py", "--weights", str(YOLOV5N), "--data", str(data), "--img", "640", "--batch", "16",
               "--device", "cpu", "--project", tmp, "--name", "val"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=yolov5, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"upstream val.py failed:\n{proc.stderr[-2000:]}")
    print(next((line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip().startswith("all ")), ""))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["yolov5n", "yolov5s"])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["train", "loader", "val"])
    parser.add_argument("--upstream", type=Path, default=None, help="ultralytics/yolov5 checkout to compare with")
    parser.add_argument("--upstream-python", default=sys.executable, help="python with upstream's requirements")
    args = parser.parse_args()
    if not COCO128.is_file():
        raise SystemExit(f"coco128 not found at {COCO128}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    if "train" not in args.skip:
        for model in args.models:
            r = bench_training(model, args.imgsz, args.batch, args.warmup, args.batches, args.workers)
            print(f"train {model} {args.imgsz}px batch {args.batch}: {r['seconds_per_batch']:.2f} s/batch, "
                  f"{r['images_per_second']:.2f} images/s (batches: {r['all_batches']})")
            if args.upstream:
                u = bench_upstream_training(args.upstream, args.upstream_python, model, args.imgsz, args.batch,
                                            args.warmup, args.workers)
                print(f"  upstream train.py {model}: {u['seconds_per_batch']:.2f} s/batch, "
                      f"{u['images_per_second']:.2f} images/s (batch gaps: {u['all_batches']}); yololab is "
                      f"{u['seconds_per_batch'] / r['seconds_per_batch']:.2f}x upstream's throughput")
    if "loader" not in args.skip:
        ips = bench_loader(args.imgsz, args.batch, 8, args.workers)
        print(f"data loader (mosaic, {args.workers} workers) {args.imgsz}px: {ips:.1f} images/s")
    if "val" not in args.skip and YOLOV5N.is_file():
        print(f"yololab val yolov5n.pt coco128 val2017: {bench_val_cli():.1f} s wall")
        if args.upstream:
            print(f"upstream val.py yolov5n.pt coco128 val2017: "
                  f"{bench_upstream_val(args.upstream, args.upstream_python):.1f} s wall")
    print("upstream here: train.py yolov5n 640/16 5.0-5.3 s/batch (~3.1 images/s); val.py 63 s")


if __name__ == "__main__":
    main()
