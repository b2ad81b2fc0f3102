"""The latency phase: each finished cell timed in this process, one at a time, so no training competes.

A cell is timed again only when its bench.json is missing or was made with other settings.
"""

from __future__ import annotations

import logging
import os

from yololab.experiments.plan.layout import checkpoint_for_eval
from yololab.experiments.plan.comparison_plan import ComparisonPlan
from yololab.experiments.plan.spec import ExperimentSpec
from yololab.jsonfile import read_json_if_present, write_json

LOG = logging.getLogger("yololab")
BENCH_VERSION = 2  # 2: timed through yololab bench's Backend and export (deploy.runtime.timing)


def bench_settings(spec: ExperimentSpec) -> dict:
    """What a bench.json's figures depend on (another value: the cell is timed again)."""
    return {"version": BENCH_VERSION, "imgsz": spec.resolved_eval_imgsz, "runs": spec.latency_runs,
            "warmup": spec.latency_warmup, "backends": sorted(spec.latency_backends)}


def run_benchmarks(plan: ComparisonPlan) -> None:
    """Latency of each finished cell without bench.json (or with other settings), one at a time."""
    from yololab.experiments.score.latency import available_backends, benchmark_model

    spec = plan.spec
    if not spec.latency_backends:  # nothing to time (a data set after the first of a comparison across data sets)
        return
    settings = bench_settings(spec)
    todo = [c for c in plan.cells
            if c.paths.metrics.is_file() and (read_json_if_present(c.paths.bench) or {}).get("settings") != settings]
    backends = tuple(available_backends(spec.latency_backends))
    for i, cell in enumerate(todo, 1):
        paths = cell.paths
        LOG.info("latency [%d/%d] %s at %d px (%s)", i, len(todo), cell.cell_id, settings["imgsz"],
                 ", ".join(backends))
        load = _loadavg()
        try:
            results = benchmark_model(checkpoint_for_eval(paths, spec.checkpoint), settings["imgsz"], paths.onnx,
                                      spec.latency_runs, spec.latency_warmup, backends)
        except Exception as err:  # noqa: BLE001 - recorded, the table shows it as missing
            LOG.warning("%s: latency failed: %s", cell.cell_id, err)
            results = {"error": f"{type(err).__name__}: {err}"}
        write_json(paths.bench, {"settings": settings, "results": results,
                                 "loadavg_1min": max(load, _loadavg()), "cpu_count": os.cpu_count()})


def _loadavg() -> float:
    """The 1-minute load average (0 where unknown): other work competing for the CPU while timing."""
    from yololab.hardware import load_average

    load = load_average()
    return load[0] if load else 0.0
