"""From-scratch convergence on a synthetic shapes dataset: mAP per epoch.

    python benchmarks/convergence.py [--model yolov5n] [--epochs 30] [--num-train 128] [--imgsz 160]

Writes the dataset and the run under ``--out`` (a temporary folder by default) and prints one line
per epoch (losses, mAP50, mAP50-95) from the run's results.csv, then the summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolov5n")
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-train", type=int, default=128)
    parser.add_argument("--num-val", type=int, default=32)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr0", type=float, default=0.02)
    parser.add_argument("--mosaic", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from yololab.data import make_synthetic_dataset
    from yololab.train.config import TrainConfig
    from yololab.train.trainer import train

    root = Path(args.out or tempfile.mkdtemp(prefix="yololab-convergence-"))
    data = make_synthetic_dataset(root / "data", args.num_train, args.num_val, img_size=args.imgsz,
                                  classes=("circle", "square", "triangle"), seed=args.seed)
    cfg = TrainConfig(model=args.model, backbone=args.backbone, data=str(data), epochs=args.epochs,
                      imgsz=args.imgsz, batch=args.batch, workers=args.workers, out=str(root / "run"),
                      seed=args.seed, nominal_batch=args.batch, progress=False,
                      hyp={"lr0": args.lr0, "warmup_epochs": 1.0}, augment={"mosaic": args.mosaic})
    summary = train(cfg)
    print(f"\n{'epoch':>5} {'box':>8} {'obj':>8} {'cls':>8} {'mAP50':>8} {'mAP50-95':>9} {'s':>6}")
    with open(root / "run" / "results.csv", newline="") as f:
        for row in csv.DictReader(f):
            print(f"{row['epoch']:>5} {row['train/box_loss']:>8} {row['train/obj_loss']:>8} "
                  f"{row['train/cls_loss']:>8} {row['metrics/map50'] or '-':>8} {row['metrics/map50_95'] or '-':>9} "
                  f"{row['epoch_seconds']:>6}")
    keep = ("best_map50_95", "train_seconds", "images_per_second", "peak_memory_mb", "epochs_run", "best")
    print(json.dumps({k: summary[k] for k in keep}, indent=2))


if __name__ == "__main__":
    main()
