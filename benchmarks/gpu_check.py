"""The steps of ``benchmarks/gpu_check.sh`` (read that first): each step runs as its own process with its own
time limit, inside one overall deadline, and its result or failure lands in one JSON without stopping
the others.

    python benchmarks/gpu_check.py --out DIR --data-root DIR [--dry-run] [--deadline-s 450]

Steps: env, cuda_tests (a), loader and train (b), latency (c), torchrun (d), compare (e). ``--dry-run``
runs tiny CPU versions of each (64 px, a 16-image subset, a batch or two) so that a CPU test keeps the
script working; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: step -> (seconds allowed on a GPU, seconds allowed in a dry run)
STEPS = {
    "env": (30, 60),
    "cuda_tests": (110, 60),
    "loader": (30, 60),
    "train": (90, 60),
    "latency": (60, 60),
    "torchrun": (60, 90),
    "compare": (110, 300),
    "packing": (100, 240),  # last: on a GPU it takes what the deadline leaves, never time from the others
}


# ---------------------------------------------------------------------------------------------- helpers
def coco128_yaml(args: argparse.Namespace) -> Path:
    return Path(args.data_root) / "data" / "coco128" / "data.yaml"


def yolov5n_pt(args: argparse.Namespace) -> Path:
    return Path(args.data_root) / "weights" / "yolov5n.pt"


def data_yaml(args: argparse.Namespace) -> Path:
    """coco128 itself, or in a dry run a data YAML over its first 16 train / 16 val images."""
    full = coco128_yaml(args)
    if not args.dry_run:
        return full
    root = Path(args.work) / "mini"
    if not (root / "data.yaml").is_file():
        root.mkdir(parents=True, exist_ok=True)
        for split in ("train2017", "val2017"):
            files = sorted((full.parent / "images" / split).glob("*.jpg"))[:16]
            (root / f"{split}.txt").write_text("".join(f"{f}\n" for f in files))
        names = full.read_text().split("names:", 1)[1]
        # the images stay in coco128 (the data root); only the lists live here
        (root / "data.yaml").write_text(f"path: {full.parent}\ntrain: {root / 'train2017.txt'}\n"
                                        f"val: {root / 'val2017.txt'}\nnames:{names}")
    return root / "data.yaml"


def loader_workers(args: argparse.Namespace) -> int:
    return 0 if args.dry_run else max(1, min(15, (os.cpu_count() or 2) - 1))


def run_cmd(cmd: list[str], timeout: float, log: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command, its output appended to the log, and return it (``returncode`` 124 on timeout)."""
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
        except subprocess.TimeoutExpired as err:
            out = (err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
            f.write(out + f"\n[timed out after {timeout:.0f} s]\n")
            return subprocess.CompletedProcess(cmd, 124, out, "")
        f.write(proc.stdout + proc.stderr)
    return proc


def cuda_sync():
    import torch

    return torch.cuda.synchronize if torch.cuda.is_available() else None


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------------------------------------- steps
def step_env(args: argparse.Namespace) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "cuda_available": torch.cuda.is_available(), "dry_run": args.dry_run}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    nccl=".".join(map(str, torch.cuda.nccl.version())))
    elif not args.dry_run:
        raise RuntimeError("no CUDA device: torch.cuda.is_available() is False (use --dry-run on a CPU)")
    for path in (coco128_yaml(args), yolov5n_pt(args)):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (benchmarks/gpu_prepare.sh copies it into .gpu_data/)")
    import yololab

    info["yololab"] = str(Path(yololab.__file__).parent)
    return info


def step_cuda_tests(args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-rs", "-p", "no:cacheprovider", "tests/test_cuda.py"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ})
    print(proc.stdout[-6000:] + proc.stderr[-2000:])
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)", tail)}
    result = {"summary": tail, **counts, "returncode": proc.returncode}
    if proc.returncode not in (0, 5) or counts.get("failed") or counts.get("error") or counts.get("errors"):
        raise RuntimeError(f"cuda tests: {tail or proc.stderr[-500:]}")
    if not args.dry_run and counts.get("passed", 0) < 4:
        raise RuntimeError(f"cuda tests did not all run on the GPU: {tail}")
    return result


def _records(args: argparse.Namespace, split: str = "train"):
    from yololab.data import load_split

    return load_split(data_yaml(args), split, log=False)[0]


def step_loader(args: argparse.Namespace) -> dict:
    """Training-loader images/s alone (mosaic + affine + HSV + flip), decoding JPEGs and from a RAM cache."""
    from yololab.data import AugmentConfig, DetectionDataset, create_dataloader

    imgsz, batch, batches = (64, 4, 2) if args.dry_run else (640, 64, 8)
    workers = loader_workers(args)
    records = _records(args) * (1 if args.dry_run else 8)  # epochs long enough for steady state
    out = {"imgsz": imgsz, "batch": batch, "workers": workers}
    for cache in (None, "ram"):
        ds = DetectionDataset(records, imgsz, augment=True, aug=AugmentConfig(), batch_size=batch, cache=cache)
        it = iter(create_dataloader(ds, batch, shuffle=True, workers=workers, seed=0))
        next(it)
        t, n = time.perf_counter(), 0
        for _ in range(batches):
            n += next(it)[0].shape[0]
        ips = n / (time.perf_counter() - t)
        out[f"cache_{cache or 'none'}"] = {"images_per_s": ips, "per_worker": ips / max(workers, 1)}
    return out


def _trainer(args: argparse.Namespace, model: str, imgsz: int, batch: int, cache: str | None, out: Path,
             workers: int | None = None):
    from yololab.train.config import TrainConfig
    from yololab.train.trainer import Trainer

    cfg = TrainConfig(model=model, data=str(data_yaml(args)), imgsz=imgsz, batch=batch, epochs=1, amp=True,
                      workers=loader_workers(args) if workers is None else workers, device="auto", out=str(out),
                      progress=False, plots=False, cache=cache)
    trainer = Trainer(cfg)
    trainer.setup()
    if not args.dry_run:  # coco128 x 8 per epoch: no worker restarts inside the timed batches
        trainer.data.train = trainer.data.train * 8
        trainer._build_loader()
    return trainer


def step_train(args: argparse.Namespace) -> dict:
    """Training images/s (forward, loss, backward, step, EMA, loading included), then the same model step on
    one batch held on the device (what the GPU alone can take)."""
    import torch

    model, imgsz, batch, warmup, timed = ("yolov5n", 64, 4, 1, 2) if args.dry_run else ("yolov5s", 640, 64, 3, 10)
    out: dict = {"model": model, "imgsz": imgsz, "batch": batch, "workers": loader_workers(args)}
    for cache in (None, "ram"):
        trainer = _trainer(args, model, imgsz, batch, cache, Path(args.work) / f"train-{cache}")
        try:
            trainer.train_one_epoch(0, max_batches=warmup + timed)
            per_batch = statistics.median(trainer.batch_seconds[warmup:])
            out[f"cache_{cache or 'none'}"] = {"images_per_s": batch / per_batch, "amp": trainer.amp,
                                               "batch_seconds": [round(s, 4) for s in trainer.batch_seconds]}
        finally:
            trainer.release()
    imgs, targets, _, _ = next(iter(trainer.loader))
    imgs, targets = imgs.to(trainer.device).float() / 255, targets.to(trainer.device)
    model_ = trainer.model

    def step() -> None:
        with torch.autocast(trainer.device.type, enabled=trainer.amp):
            loss, _ = trainer.loss_fn(model_(imgs), targets)
        trainer.scaler.scale(loss).backward()
        trainer.optimizer_step()

    from yololab.deploy.runtime.timing import summarize, time_calls

    ms = summarize(time_calls(step, runs=timed, warmup=warmup, sync=cuda_sync()))
    out["model_step_only"] = {"images_per_s": batch / (ms["median_ms"] / 1000), **ms}
    out["peak_memory_mb"] = (torch.cuda.max_memory_allocated() / 2**20) if torch.cuda.is_available() else None
    return out


def cell_child(args: argparse.Namespace) -> dict:
    """One "cell" of the packing step: a training run of a few batches at the step's settings, its images/s."""
    model, imgsz, batch, warmup, timed = ("yolov5n", 64, 4, 1, 2) if args.dry_run else ("yolov5n", 640, 64, 2, 6)
    trainer = _trainer(args, model, imgsz, batch, args.cell_cache, Path(args.work) / f"cell-{os.getpid()}",
                       workers=args.cell_workers)
    try:
        trainer.train_one_epoch(0, max_batches=warmup + timed)
        return {"images_per_s": batch / statistics.median(trainer.batch_seconds[warmup:]), "cache": trainer.dataset.cache}
    finally:
        trainer.release()


def step_packing(args: argparse.Namespace) -> dict:
    """Training images/s of 1 vs 2 cells at once on the device, each without a cache and with the shared
    .npy cache (written once, before, then memory-mapped by both cells): what ``cells_per_device`` and the
    shared cache give a loader-bound small model."""
    from yololab.data import DetectionDataset

    DetectionDataset(_records(args), 64 if args.dry_run else 640, augment=True, cache="disk")  # written once
    out: dict = {}
    for cells in (1, 2):
        workers = max(0, loader_workers(args) // cells)
        for cache in ("none", "disk"):
            procs, files = [], []
            for i in range(cells):
                files.append(Path(args.work) / f"packing-{cells}-{cache}-{i}.json")
                cmd = [sys.executable, str(Path(__file__).resolve()), "--cell-child", str(files[-1]), "--work",
                       str(args.work), "--out", str(args.out), "--data-root", str(args.data_root), "--cell-cache",
                       cache, "--cell-workers", str(workers)] + (["--dry-run"] if args.dry_run else [])
                procs.append(subprocess.Popen(cmd))
            codes = [p.wait() for p in procs]
            if any(codes):
                raise RuntimeError(f"{cells} cell(s) with cache {cache}: exit codes {codes}")
            each = [json.loads(f.read_text())["images_per_s"] for f in files]
            out[f"cells_{cells}_cache_{cache}"] = {"images_per_s_total": sum(each), "per_cell": each,
                                                   "workers_per_cell": workers}
    return out


def step_latency(args: argparse.Namespace) -> dict:
    """FP16 latency (fused model + box decoding, median and p90), eager and replayed as a CUDA graph."""
    import torch

    from yololab.deploy.runtime.timing import summarize, time_calls
    from yololab.models import build_model

    dev = torch.device(device_name())
    half = dev.type == "cuda"
    models = [("yolov5n", None)] if args.dry_run else [("yolov5s", None), ("yolov5s", "resnet50")]
    batches, imgsz, runs, warmup = ((1, 2), 64, 3, 1) if args.dry_run else ((1, 32), 640, 50, 10)
    out: dict = {"imgsz": imgsz, "dtype": "float16" if half else "float32", "device": str(dev)}
    for name, backbone in models:
        model = build_model(name, backbone, 80).fuse().eval().to(dev).channels_last()
        model = model.half() if half else model
        for b in batches:
            x = torch.rand(b, 3, imgsz, imgsz, device=dev, dtype=torch.float16 if half else torch.float32)
            x = x.contiguous(memory_format=torch.channels_last)
            label = f"{name}+{backbone or 'native'}/batch{b}"

            def eager() -> torch.Tensor:
                with torch.inference_mode():
                    return model.decode(model(x))

            res = {"eager": summarize(time_calls(eager, runs, warmup, sync=cuda_sync()))}
            if dev.type == "cuda":
                try:
                    static = x.clone()
                    stream = torch.cuda.Stream()
                    stream.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(stream), torch.no_grad():
                        for _ in range(3):
                            model.decode(model(static))
                    torch.cuda.current_stream().wait_stream(stream)
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph), torch.no_grad():
                        model.decode(model(static))
                    res["cuda_graph"] = summarize(time_calls(graph.replay, runs, warmup, sync=cuda_sync()))
                except Exception as err:  # noqa: BLE001 - recorded, eager stands
                    res["cuda_graph"] = {"error": f"{type(err).__name__}: {err}"}
            best = min((v for v in res.values() if "median_ms" in v), key=lambda v: v["median_ms"])
            res["best_median_ms"], res["best_p90_ms"] = best["median_ms"], best["p90_ms"]
            out[label] = res
            print(label, {k: v.get("median_ms") for k, v in res.items() if isinstance(v, dict)})
        del model
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return out


def step_torchrun(args: argparse.Namespace) -> dict:
    """One epoch under ``torchrun --nproc_per_node 1``: the process group is joined (NCCL on a GPU)."""
    run = Path(args.work) / "torchrun"
    size, batch, dev = (64, 4, "cpu") if args.dry_run else (320, 32, "0")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m", "yololab",
           "train", "--model", "yolov5n", "--data", str(data_yaml(args)), "--epochs", "1", "--imgsz", str(size),
           "--batch", str(batch), "--device", dev, "--workers", str(min(8, loader_workers(args))), "--out", str(run),
           "--no-progress", "--no-plots", "--json", str(run / "summary.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    print(proc.stdout[-3000:] + proc.stderr[-5000:])
    if proc.returncode:
        raise RuntimeError(f"torchrun exited {proc.returncode}: {proc.stderr[-800:]}")
    backend = "gloo" if args.dry_run else "nccl"
    if f"backend {backend}" not in proc.stderr:
        raise RuntimeError(f"the process group was not joined with {backend} (no 'backend {backend}' logged)")
    summary = json.loads((run / "summary.json").read_text())
    return {"backend": backend, "epochs_run": summary["epochs_run"], "world_size": summary["world_size"],
            "images_per_s": summary["images_per_second"], "train_seconds": summary["train_seconds"],
            "map50_95": (summary.get("final_metrics") or {}).get("map50_95")}


def step_compare(args: argparse.Namespace) -> dict:
    """``yololab compare``: two backbones x one seed, a few epochs, on the GPU (the CPU in a dry run)."""
    out = Path(args.work) / "compare"
    size, epochs, batch, backbones = (64, 1, 4, "native,timm:resnet18") if args.dry_run else (320, 3, 32, "native,resnet50")
    cmd = [sys.executable, "-m", "yololab", "compare", "--data", str(data_yaml(args)), "--models", "yolov5n",
           "--backbones", backbones, "--seeds", "0", "--epochs", str(epochs), "--imgsz", str(size), "--batch", str(batch),
           "--workers", str(min(8, loader_workers(args))), "--latency-runs", "3" if args.dry_run else "20",
           "--devices", "cpu" if args.dry_run else "0", "--executor", "local", "--no-progress", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ})
    print(proc.stdout[-4000:] + proc.stderr[-4000:])
    if proc.returncode:
        raise RuntimeError(f"compare exited {proc.returncode}: {proc.stderr[-800:]}")
    rows = json.loads((out / "results.json").read_text()).get("rows", [])
    keep = ("cell_id", "backbone", "params", "gflops", "map", "latency", "ms", "train", "memory", "status")
    cells = [{k: v for k, v in row.items() if any(w in k for w in keep) and not isinstance(v, (dict, list))}
             for row in rows if row.get("row_type") == "cell"]
    if len(cells) != 2:
        raise RuntimeError(f"expected 2 cells in {out / 'results.json'}, found {len(cells)}")
    return {"backbones": backbones, "epochs": epochs, "imgsz": size, "cells": cells}


# ---------------------------------------------------------------------------------------------- driver
def run_step(name: str, args: argparse.Namespace) -> None:
    """Child process: run one step and write its result (or its error) to WORK/step-NAME.json."""
    import torch

    torch.set_num_threads(1 if args.dry_run else min(8, os.cpu_count() or 1))
    started = time.perf_counter()
    try:
        result = {"ok": True, **globals()[f"step_{name}"](args)}
    except Exception as err:  # noqa: BLE001 - every failure is recorded; the driver goes on
        import traceback

        traceback.print_exc()
        result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    result["seconds"] = round(time.perf_counter() - started, 1)
    (Path(args.work) / f"step-{name}.json").write_text(json.dumps(result, indent=2, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="gpu_check.json and gpu_check.log go here")
    parser.add_argument("--data-root", type=Path, required=True, help="holds data/coco128 and weights/yolov5n.pt")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--deadline-s", type=float, default=450, help="all steps end within this")
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS))
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--cell-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cell-cache", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--cell-workers", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell_child:
        import torch

        torch.set_num_threads(1 if args.dry_run else 4)
        args.cell_child.write_text(json.dumps(cell_child(args)))
        return 0
    if args.step:
        run_step(args.step, args)
        return 0
    start = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    log, report = args.out / "gpu_check.log", args.out / "gpu_check.json"
    summary: dict = {"dry_run": args.dry_run, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "steps": {}}
    for name in args.steps:
        left = args.deadline_s - (time.monotonic() - start)
        limit = min(STEPS[name][1 if args.dry_run else 0], left)
        if limit < 10:
            summary["steps"][name] = {"ok": False, "error": f"skipped: {left:.0f} s left of the deadline"}
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--step", name, "--work", str(work), "--out",
                   str(args.out), "--data-root", str(args.data_root)] + (["--dry-run"] if args.dry_run else [])
            t = time.monotonic()
            proc = run_cmd(cmd, limit, log)
            file = work / f"step-{name}.json"
            if file.is_file():
                summary["steps"][name] = json.loads(file.read_text())
            else:
                why = f"timed out after {limit:.0f} s" if proc.returncode == 124 else f"exited {proc.returncode}"
                summary["steps"][name] = {"ok": False, "error": f"{why} (see gpu_check.log)",
                                          "seconds": round(time.monotonic() - t, 1)}
        summary["seconds"] = round(time.monotonic() - start, 1)
        summary["ok"] = all(s.get("ok") for s in summary["steps"].values())
        report.write_text(json.dumps(summary, indent=2, default=str))  # after every step: a kill keeps the rest
        print(f"{name}: {'ok' if summary['steps'][name].get('ok') else 'FAILED ' + summary['steps'][name]['error']}"
              f" ({summary['steps'][name].get('seconds', 0)} s)", flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
