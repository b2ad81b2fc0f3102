"""Time to table: one small comparison run today's way and the new way, side by side in one run.

    python benchmarks/time_to_table.py [--epochs 1] [--imgsz 320] [--seeds 0 1] [--workers 2] [--repeats 1]

The comparison: yolov5n fine-tuned from upstream's yolov5n.pt on coco128 train2017 (scored on val2017),
2 entries (the native backbone, and the same with the backbone's learning rate halved) x 2 seeds,
``--epochs`` epochs at ``--imgsz``, the local executor (one cell after another). Ways:

- old: ``cache: none`` and upstream's mosaic (resize -> 2x canvas -> warp): every cell decodes every image
  4 times per epoch (once per mosaic tile);
- new: ``cache: auto`` (an empty cache folder, so writing it is counted) and the composed-warp mosaic.

Each way runs in a fresh process (they take turns, ``--repeats`` times) and reports wall time, CPU time
(the process and its loader workers) and the images decoded, counted at the training loader's decoders
(train2017) and at validation (val2017), across processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COCO128 = SHARED / "data" / "coco128"
WEIGHTS = SHARED / "weights" / "yolov5n.pt"
WAYS = {"old": {"cache": "none", "mosaic_impl": "canvas"}, "new": {"cache": "auto", "mosaic_impl": "warp"}}


def count_decodes(log: Path) -> None:
    """Append the file name of every decode of the data module to ``log`` (O_APPEND: loader workers too)."""
    from yololab.data import dataset as dataset_module

    full, scaled = dataset_module.read_image, dataset_module.read_image_scaled

    def note(path) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{Path(path).parent.name}\n")

    dataset_module.read_image = lambda path: (note(path), full(path))[1]
    dataset_module.read_image_scaled = lambda path, n: (note(path), scaled(path, n))[1]


def child(args: argparse.Namespace) -> dict:
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import spec_from_mapping

    log = Path(args.out) / "decodes.log"
    count_decodes(log)
    way = WAYS[args.child]
    spec = spec_from_mapping({
        "name": f"time-to-table-{args.child}", "data": str(COCO128 / "data.yaml"), "models": ["yolov5n"],
        "backbones": ["native", {"name": "native", "label": "native-bb-lr-0.5", "backbone_lr_mult": 0.5}],
        "seeds": args.seeds, "epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch,
        "workers": args.workers, "cache": way["cache"], "latency_backends": ["torch"],
        "train": {"weights": str(WEIGHTS), "mosaic_impl": way["mosaic_impl"], "plots": False},
    })
    wall, cpu0 = time.perf_counter(), _cpu()
    result = run_compare(spec, Path(args.out) / "cmp", RunSettings(bench=False, report=False, progress=False))
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu0
    lines = log.read_text().split() if log.is_file() else []
    maps = [round(r.accuracy.map50_95, 4) if r.accuracy.map50_95 is not None else None for r in result.rows]
    return {"way": args.child, "wall_s": wall, "cpu_s": cpu, "decoded_train": lines.count("train2017"),
            "decoded_val": lines.count("val2017"), "cells": len(result.rows),
            "done": sum(r.done for r in result.rows), "map50_95": maps}


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_way(way: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", way, "--out", tmp, "--epochs",
               str(args.epochs), "--imgsz", str(args.imgsz), "--batch", str(args.batch), "--workers",
               str(args.workers), "--seeds", *map(str, args.seeds)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode:
            raise SystemExit(f"{way} way failed:\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--repeats", type=int, default=1, help="runs per way, taking turns (median reported)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=tuple(WAYS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    for need in (COCO128 / "data.yaml", WEIGHTS):
        if not need.is_file():
            raise SystemExit(f"missing {need} (../shared beside the checkout)")
    print(f"coco128 train2017 -> val2017, yolov5n.pt, 2 entries x {len(args.seeds)} seeds, {args.epochs} epoch(s) "
          f"at {args.imgsz}, batch {args.batch}, {args.workers} loader workers, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    runs: dict[str, list[dict]] = {w: [] for w in WAYS}
    for _ in range(args.repeats):
        for way in WAYS:
            runs[way].append(run_way(way, args))
    summary = {}
    for way, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "decoded_train", "decoded_val")}
        summary[way] = {**med, "runs": rs}
        print(f"{way:3s} ({WAYS[way]['cache']} cache, {WAYS[way]['mosaic_impl']} mosaic): wall {med['wall_s']:6.1f} s, "
              f"CPU {med['cpu_s']:6.1f} s, decoded {med['decoded_train']:.0f} train + {med['decoded_val']:.0f} val "
              f"images, cells done {rs[-1]['done']}/{rs[-1]['cells']}, mAP50-95 {rs[-1]['map50_95']}")
    old, new = summary["old"], summary["new"]
    print(f"new / old: wall {new['wall_s'] / old['wall_s']:.2f}x, CPU {new['cpu_s'] / old['cpu_s']:.2f}x, "
          f"training images decoded {new['decoded_train'] / max(old['decoded_train'], 1):.3f}x; "
          f"load average now {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
