"""The full COCO-C table of a checkpoint on the shared real photos: mAP50-95 clean and under the 15
benchmark corruptions at severities 1-5, mPC, rPC, the time it took and the CPU.

    python benchmarks/robustness_table.py [--weights W] [--data D] [--imgsz 640] [--json out.json]

Defaults: upstream's yolov5n.pt on coco128 val2017 (../shared beside the checkout).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def markdown(result: dict) -> str:
    """The table as Markdown: mAP50-95 x 100 per corruption and severity, each row's mean, then clean/mPC/rPC."""
    rows = result["corruptions"]
    sevs = sorted({int(k) for row in rows.values() for k in row})
    lines = ["| corruption | " + " | ".join(f"sev {s}" for s in sevs) + " | mean |",
             "|---|" + "---:|" * (len(sevs) + 1)]
    for name, row in rows.items():
        cells = [100 * row[str(s)] for s in sevs]
        lines.append(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {sum(cells) / len(cells):.1f} |")
    rpc = "–" if result["rpc"] is None else f"{100 * result['rpc']:.1f}%"
    lines.append(f"\nclean mAP50-95 **{100 * result['map50_95']:.1f}**, mPC **{100 * result['mpc']:.1f}**, "
                 f"rPC **{rpc}**")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=SHARED / "weights" / "yolov5n.pt")
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "coco128" / "data.yaml")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--corruption", default="all", help="all (the 15), a family or names, comma-separated")
    ap.add_argument("--severity", default="all")
    ap.add_argument("--workers", type=int, default=1, help="loader workers (they corrupt the images)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a busy 2-core CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch

    from yololab.data.source import open_split
    from yololab.deploy.runtime.model_adapter import load_val_model
    from yololab.eval.robustness import format_robustness, parse_corruptions, parse_severities, score_corrupted
    from yololab.eval.validate import ValSettings

    torch.set_num_threads(args.threads)
    split = open_split(args.data, "val")
    model = load_val_model(str(args.weights)).float()
    model.fuse()
    model.eval()
    started = time.perf_counter()
    result = score_corrupted(model, split, parse_corruptions(args.corruption), parse_severities(args.severity),
                             seed=args.seed, settings=ValSettings(image_size=args.imgsz, workers=args.workers))
    wall = time.perf_counter() - started
    print(format_robustness(result))
    print(f"{len(split.records)} images at --imgsz {args.imgsz}, {wall:.0f} s wall on {cpu_name()} "
          f"({torch.get_num_threads()} torch threads, {args.workers} loader workers)")
    print(markdown(result.as_dict()))
    if args.json:
        out = result.as_dict() | {"imgsz": args.imgsz, "images": len(split.records), "wall_s": wall,
                                  "cpu": cpu_name(), "weights": str(args.weights), "data": str(args.data)}
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
