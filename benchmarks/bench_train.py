"""Training throughput on this machine, side by side with the upstream figures measured here.

    python benchmarks/bench_train.py [--models yolov5n yolov5s] [--imgsz 640] [--batch 16] [--batches 5]

Prints, for coco128 train2017 (../shared/data/coco128):
  * training images/s of each model (mosaic augmentation, 2 loader workers, forward + loss + backward +
    optimizer step + EMA, data loading included), the median of ``--batches`` steady-state batches after
    ``--warmup`` batches;
  * data-loader throughput alone (mosaic + random perspective + HSV + flip, no model);
  * the wall time of ``yololab val`` (yolov5n.pt, coco128 val2017, 640, batch 16) as a subprocess.

Upstream reference on this machine (DATA.md): train.py yolov5n 640 batch 16 CPU: 5.0-5.3 s per batch
(about 3.1 images/s); val.py 63 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

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


def bench_loader(imgsz: int, batch: int, batches: int, workers: int) -> float:
    from yololab.data import AugmentConfig, DetectionDataset, create_dataloader, load_split

    records, _ = load_split(COCO128, "train", log=False)
    dataset = DetectionDataset(records, imgsz, augment=True, aug=AugmentConfig(), batch_size=batch)
    loader = create_dataloader(dataset, batch, shuffle=True, workers=workers, seed=0)
    it = iter(loader)
    next(it)  # worker start-up
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            images = next(it)[0]
        except StopIteration:
            it = iter(loader)
            images = next(it)[0]
        n += images.shape[0]
    return n / (time.perf_counter() - start)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["yolov5n", "yolov5s"])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["train", "loader", "val"])
    args = parser.parse_args()
    if not COCO128.is_file():
        raise SystemExit(f"coco128 not found at {COCO128}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    if "train" not in args.skip:
        for model in args.models:
            r = bench_training(model, args.imgsz, args.batch, args.warmup, args.batches, args.workers)
            print(f"train {model} {args.imgsz}px batch {args.batch}: {r['seconds_per_batch']:.2f} s/batch, "
                  f"{r['images_per_second']:.2f} images/s (batches: {r['all_batches']})")
    if "loader" not in args.skip:
        ips = bench_loader(args.imgsz, args.batch, 8, args.workers)
        print(f"data loader (mosaic, {args.workers} workers) {args.imgsz}px: {ips:.1f} images/s")
    if "val" not in args.skip and YOLOV5N.is_file():
        print(f"yololab val yolov5n.pt coco128 val2017: {bench_val_cli():.1f} s wall")
    print("upstream here: train.py yolov5n 640/16 5.0-5.3 s/batch (~3.1 images/s); val.py 63 s")


if __name__ == "__main__":
    main()
