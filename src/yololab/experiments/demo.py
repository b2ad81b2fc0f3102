"""``yololab demo``: a whole backbone comparison on a fresh machine, offline, in a few CPU minutes.

It writes a synthetic shapes dataset, trains YOLOv5n with its own CSPDarknet and with two swapped-in
backbones (all from scratch: nothing is downloaded), scores and times every cell, and writes the
report (tables, plots, report.html) -- the same pipeline as ``yololab compare`` at toy scale.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from yololab.experiments.compare import CompareResult, run_compare
from yololab.experiments.plan.run_settings import ExecutorName, RunSettings
from yololab.experiments.plan.spec import ExperimentSpec

LOG = logging.getLogger("yololab")


@dataclass
class DemoSettings:
    """Sizes tuned so that the best cell reaches mAP50 > 0.5 in about 5 minutes on 2 CPU cores.

    From scratch, class evidence is what YOLO learns last; two well-separated shapes, many objects
    per image, a stronger class-loss gain and light augmentation make ~700 SGD steps enough.
    """

    classes: tuple[str, ...] = ("circle", "triangle")
    num_train: int = 240
    num_val: int = 60
    max_objects: int = 10
    imgsz: int = 128
    epochs: int = 28
    batch: int = 8
    backbones: list[str] = field(default_factory=lambda: ["native", "hgnetv2_b0", "timm:mobilenetv3_small_100"])
    hyp: dict = field(default_factory=lambda: {"lr0": 0.04, "warmup_epochs": 1.0, "cls": 4.0})
    augment: dict = field(default_factory=lambda: {"mosaic": 0.0, "scale": 0.25, "translate": 0.05,
                                                   "hsv_s": 0.3, "hsv_v": 0.2})
    train: dict = field(default_factory=lambda: {"nominal_batch": 8, "val_every": 4})
    latency_runs: int = 30
    latency_warmup: int = 5
    data_seed: int = 0


#: A seconds-long variant for tests: the mechanics, not the accuracy.
QUICK = DemoSettings(num_train=16, num_val=8, imgsz=64, epochs=1, batch=8, latency_runs=3, latency_warmup=1,
                     backbones=["native", "timm:resnet18"], augment={"mosaic": 0.0})


def demo_spec(data_yaml: Path, settings: DemoSettings) -> ExperimentSpec:
    return ExperimentSpec(
        name="yololab-demo", data=str(data_yaml), models=["yolov5n"], backbones=list(settings.backbones),
        seeds=[0], epochs=settings.epochs, imgsz=settings.imgsz, batch=settings.batch, workers=0,
        devices="cpu", hyp=dict(settings.hyp), augment=dict(settings.augment), train=dict(settings.train),
        latency_runs=settings.latency_runs, latency_warmup=settings.latency_warmup)


#: the demo's data YAML: its name is what the report's title calls the data set
DEMO_DATA_YAML = "synthetic-shapes.yaml"


def make_demo_data(out: Path, settings: DemoSettings) -> Path:
    """The synthetic dataset under ``out/data`` (reused when it is already there; folders from before
    the YAML was named keep their ``data.yaml``)."""
    from yololab.data import make_synthetic_dataset

    for name in (DEMO_DATA_YAML, "data.yaml"):
        if (out / "data" / name).is_file():
            return out / "data" / name
    LOG.info("demo: writing %d + %d synthetic images (%s) to %s", settings.num_train, settings.num_val,
             ", ".join(settings.classes), out / "data")
    written = make_synthetic_dataset(out / "data", settings.num_train, settings.num_val, settings.imgsz,
                                     settings.classes, settings.data_seed, max_objects=settings.max_objects)
    return written.rename(written.with_name(DEMO_DATA_YAML))


def run_demo(out_dir: str | Path = "runs/demo", settings: DemoSettings | None = None,
             executor: ExecutorName = "process", devices: str | None = None, command: str | None = None,
             estimate: bool = True,
             **overrides) -> CompareResult:
    """Dataset -> comparison -> report in ``out_dir``; re-running continues where it stopped.
    ``estimate``: first log how long it should take here (``demo_estimate``, a few timed training steps).

    By default the cells train side by side, one per CPU core (``devices='cpu*N'``).
    """
    settings = replace(settings or DemoSettings(), **overrides)
    if devices is None:  # one single-threaded cell per core beats one cell at a time on a small CPU
        devices = f"cpu*{max(1, min(len(settings.backbones), os.cpu_count() or 1))}"
    out = Path(out_dir)
    started = time.perf_counter()
    if estimate:
        from yololab.experiments.demo_estimate import estimate_demo
        from yololab.experiments.pool.worker import cpu_threads_per_worker
        from yololab.experiments.plan.spec import parse_devices

        workers = parse_devices(devices)
        LOG.info("%s", estimate_demo(settings.imgsz, settings.batch, settings.epochs, settings.num_train,
                                     len(settings.backbones), len(workers),
                                     cpu_threads_per_worker(workers)).sentence())
    data = make_demo_data(out, settings)
    result = run_compare(demo_spec(data, settings), out, RunSettings(
        executor=executor, devices=devices, command=command or f"yololab demo --out {out_dir}"))
    best = max((r for r in result.rows if r.done), key=lambda r: r.accuracy.map50 or 0.0, default=None)
    LOG.info("demo finished in %.0f s%s; open %s", time.perf_counter() - started,
             f" (best mAP50 {best.accuracy.map50 or 0.0:.3f}: {best.entry.model} + {best.entry.label})"
             if best else "",
             result.report.get("html", out))
    return result
