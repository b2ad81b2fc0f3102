"""Training-loader throughput, yololab side by side with upstream YOLOv5 v7.0, per loader worker.

    python benchmarks/bench_loader.py [--workers 1 2] [--batches 16] [--cache ram]
        [--upstream /path/to/yolov5 --upstream-python /path/to/venv/bin/python] [--profile] [--json out.json]

Both loaders read the same JPEGs (coco128 train2017 by default, through a temporary tree of links so that
neither writes into the dataset) with the same batch size and workers: mosaic + random affine + HSV + flip
at 640 (upstream's ``create_dataloader`` with ``hyp.scratch-low.yaml``, ``augment=True``, ``shuffle=True``;
yololab's ``DetectionDataset(augment=True)`` with ``create_dataloader``). Each measurement is a fresh
process; the first batch (worker start-up) is not timed, then ``--batches`` batches are. The two sides
run in turns, ``--repeats`` times, and the median is reported: images/s and images/s per worker. With
``--workers 0`` the loading runs in the measuring process on one thread, and its CPU time is the divisor:
images per CPU-second, what one worker delivers on a core of its own, steady where other jobs share the
machine (wall-clock figures with workers are not). That process gets each side's own per-worker setup:
yololab's ``loader_worker_init`` (OpenCV on one thread, freed memory kept for reuse by glibc's malloc; leave
it out with ``--no-worker-setup``), upstream's is OpenCV on one thread, set when its modules are imported.
``--profile`` adds a cProfile of yololab's items in this process (where the time goes).

This file's top level imports only the standard library: it runs itself under upstream's Python for
upstream's side (``--child upstream``) and never imports yololab there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COCO128 = REPO.parent / "shared" / "data" / "coco128"


def link_tree(images: Path, root: Path) -> Path:
    """``root/images/<split>/`` (one link per image) and ``root/labels/<split>`` (a link to the labels
    folder): label caches and .npy files land in ``root``, never beside the real data."""
    split = images.name
    labels = images.parent.parent / "labels" / split
    if not labels.is_dir():
        raise SystemExit(f"no labels folder {labels} beside {images}")
    (root / "images" / split).mkdir(parents=True)
    (root / "labels").mkdir()
    for f in sorted(images.iterdir()):
        if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"):
            (root / "images" / split / f.name).symlink_to(f.resolve())
    (root / "labels" / split).symlink_to(labels.resolve())
    return root / "images" / split


def time_batches(loader, batches: int) -> dict:
    """Wall and CPU seconds (this process) and images of ``batches`` batches after an untimed first one,
    restarting epochs as needed."""
    it = iter(loader)
    next(it)
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    for _ in range(batches):
        try:
            images = next(it)[0]
        except StopIteration:
            it = iter(loader)
            images = next(it)[0]
        n += images.shape[0]
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, "images": n}


def child_yololab(args: argparse.Namespace) -> dict:
    import cv2
    import torch

    from yololab.data import AugmentConfig, DetectionDataset, create_dataloader, load_records
    from yololab.data.dataset import loader_worker_init

    cv2.setNumThreads(0)  # as in a loader worker (and as upstream sets it at import)
    if args.workers == 0 and not args.no_worker_setup:
        loader_worker_init(0)  # this process measures what one worker does: yololab's per-worker setup
    torch.set_num_threads(1)
    records, _ = load_records(args.images, 80, log=False)
    ds = DetectionDataset(records, args.imgsz, augment=True, aug=AugmentConfig(), batch_size=args.batch,
                          cache=args.cache)
    return time_batches(create_dataloader(ds, args.batch, shuffle=True, workers=args.workers, seed=0), args.batches)


def child_upstream(args: argparse.Namespace) -> dict:
    os.chdir(args.upstream)
    sys.path.insert(0, str(args.upstream))
    import torch
    import yaml
    from utils.dataloaders import create_dataloader  # upstream's module, from its checkout

    torch.set_num_threads(1)
    hyp = yaml.safe_load(Path("data/hyps/hyp.scratch-low.yaml").read_text())
    loader, _ = create_dataloader(str(args.images), args.imgsz, args.batch, 32, hyp=hyp, augment=True,
                                  cache=args.cache or False, workers=args.workers, shuffle=True)
    return time_batches(loader, args.batches)


def run_child(side: str, python: str, images: Path, workers: int, args: argparse.Namespace) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--child", side, "--images", str(images), "--imgsz",
           str(args.imgsz), "--batch", str(args.batch), "--batches", str(args.batches), "--workers", str(workers)]
    if args.cache:
        cmd += ["--cache", args.cache]
    if args.no_worker_setup:
        cmd += ["--no-worker-setup"]
    if args.upstream:
        cmd += ["--upstream", str(args.upstream)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if side == "yololab":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{side} loader failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_yololab(images: Path, args: argparse.Namespace, items: int = 64) -> None:
    import cProfile
    import pstats

    import cv2
    import torch

    from yololab.data import AugmentConfig, DetectionDataset, load_records

    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    records, _ = load_records(images, 80, log=False)
    ds = DetectionDataset(records, args.imgsz, augment=True, aug=AugmentConfig(), batch_size=args.batch,
                          cache=args.cache)
    prof = cProfile.Profile()
    prof.enable()
    batch = [ds[i % len(ds)] for i in range(items)]
    for i in range(0, items, args.batch):
        DetectionDataset.collate_fn(batch[i:i + args.batch])
    prof.disable()
    print(f"cProfile of {items} yololab items + collation, one process, one thread:")
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=COCO128 / "images" / "train2017")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=16, help="timed batches per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                        help="0: loading in the benchmark process, timed by its CPU time (per worker)")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per side and worker count")
    parser.add_argument("--cache", choices=("ram", "disk"), default=None, help="both sides cache images so")
    parser.add_argument("--upstream", type=Path, default=None, help="a checkout of ultralytics/yolov5 v7.0")
    parser.add_argument("--upstream-python", default=sys.executable, help="python with upstream's requirements")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-worker-setup", action="store_true",
                        help="with --workers 0, leave out yololab's per-worker setup (loader_worker_init: "
                             "OpenCV on one thread, freed memory kept by malloc) in the measuring process")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=("yololab", "upstream"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.workers = args.workers[0]
        result = (child_yololab if args.child == "yololab" else child_upstream)(args)
        print(json.dumps(result))
        return
    if not args.images.is_dir():
        raise SystemExit(f"no image folder {args.images}")
    sides = {"yololab": sys.executable}
    if args.upstream:
        sides["upstream"] = args.upstream_python
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        images = link_tree(args.images, Path(tmp))
        print(f"{len(list(images.iterdir()))} images from {args.images}, {args.imgsz}px, batch {args.batch}, "
              f"{args.batches} timed batches, cache {args.cache or 'none'}, {os.cpu_count()} CPUs")
        for workers in args.workers:
            runs: dict[str, list[float]] = {s: [] for s in sides}
            for _ in range(args.repeats):
                for side, python in sides.items():
                    r = run_child(side, python, images, workers, args)
                    # no workers: the main process loads on one thread; its CPU time is what one worker
                    # needs (steady on a machine that other jobs share)
                    runs[side].append(r["images"] / (r["cpu_seconds"] if workers == 0 else r["seconds"]))
            for side, values in runs.items():
                ips = statistics.median(values)
                results[f"{side}/workers={workers}"] = {"side": side, "workers": workers, "images_per_s": ips,
                                                        "per_worker": ips / max(workers, 1), "runs": values}
                what = "images per CPU-second (one process)" if workers == 0 else "images/s"
                print(f"{side:8s} workers {workers}: {ips:6.1f} {what}, {ips / max(workers, 1):6.1f} per worker "
                      f"(runs: {', '.join(f'{v:.1f}' for v in values)})")
            if "upstream" in runs:
                ratio = statistics.median(runs["yololab"]) / statistics.median(runs["upstream"])
                results[f"ratio/workers={workers}"] = {"yololab_over_upstream": ratio}
                print(f"         workers {workers}: yololab / upstream = {ratio:.2f}x")
        if args.profile:
            profile_yololab(images, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
