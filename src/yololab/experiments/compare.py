"""``run_compare``: train and score every cell of an experiment, then benchmark and report.

Phases: (0) protocol.json is written, or the folder refused when its protocol differs; (1) cells
train + evaluate (skipping finished ones, resuming interrupted ones, recording
failures) on the chosen executor; (2) latency of every finished cell, one at a time in this
process so that no training competes with the timing; (3) tables, plots and report.html.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from yololab.atomic import atomic_write_text
from yololab.config import ConfigError
from yololab.experiments import executors
from yololab.experiments.layout import CellPaths, cell_dir, checkpoint_for_eval
from yololab.experiments.run_cell import TrainFn
from yololab.experiments.cell_config import cell_state
from yololab.jsonfile import read_json_if_present, write_json
from yololab.experiments.environment import environment
from yololab.experiments.protocol_card import check_and_write_protocol
from yololab.experiments.records import CellResult
from yololab.experiments.rows import collect_rows
from yololab.experiments import packing
from yololab.experiments.status import CellOutcome, CellStatus
from yololab.experiments.spec import Cell, ExperimentSpec, expand_cells, load_spec, parse_devices, validate_spec

LOG = logging.getLogger("yololab")
BENCH_VERSION = 2  # 2: timed through yololab bench's Backend and export (deploy.timing)


@dataclass
class CompareResult:
    out_dir: Path
    rows: list[CellResult]                # one per cell (status done / failed / interrupted / pending)
    outcomes: list[CellOutcome] = field(default_factory=list)  # what this run did per cell
    report: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[CellResult]:
        return [r for r in self.rows if not r.done]


def _as_spec(spec: ExperimentSpec | str | Path | dict) -> ExperimentSpec:
    if isinstance(spec, ExperimentSpec):
        validate_spec(spec)
        return dataclasses.replace(spec)
    if isinstance(spec, dict):
        from yololab.experiments.spec import spec_from_mapping

        return spec_from_mapping(spec)
    return load_spec(spec)


def prepare_spec(spec: ExperimentSpec | str | Path | dict, devices: str | list[str] | None = None) -> ExperimentSpec:
    """The checked spec with its data path resolved and ``devices`` (if given) applied and checked."""
    spec = _as_spec(spec)
    spec.data = str(Path(spec.data).expanduser().resolve())
    if devices is not None:
        spec.devices = parse_devices(devices) if isinstance(devices, str) else [str(d) for d in devices]
    check_devices(spec.devices)
    return spec


def check_devices(devices: list[str]) -> None:
    if any(d != "cpu" for d in devices):
        import torch

        count = torch.cuda.device_count()
        missing = [d for d in devices if d != "cpu" and int(d) >= count]
        if missing:
            raise ConfigError(f"CUDA device(s) {missing} requested but {count} visible; on CPU use "
                              f"--devices cpu,cpu (one worker per entry)")


def run_compare(spec: ExperimentSpec | str | Path | dict, out_dir: str | Path, executor: str = "local",
                devices: str | list[str] | None = None, train_fn: TrainFn | str | None = None,
                command: str | None = None, bench: bool = True, report: bool = True,
                progress: bool = True, ray_shared_fs: bool = False, ray_work_dir: str | None = None) -> CompareResult:
    """Run (or continue) the comparison in ``out_dir`` and write its report.

    ``executor``: 'local' (one cell after another here), 'process' (a process pool, one worker per
    entry of ``devices``: '0,1,2,3' for GPUs, 'cpu,cpu' for two CPU workers), or 'ray' (cells in
    node-local folders, their files sent back here; ``ray_shared_fs``: every node writes ``out_dir`` directly).
    ``train_fn``: the trainer (a callable or 'module:function'; default yololab.train.trainer:train).
    Re-running skips cells with metrics.json and resumes those with weights/last.pt.
    """
    if executor not in executors.EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose from {', '.join(executors.EXECUTORS)}")
    spec = prepare_spec(spec, devices)
    per_device = packing.resolve_cells_per_device(spec, spec.devices)
    if per_device > 1:
        spec.devices = packing.expand_devices(spec.devices, per_device)
        if executor == "local":
            LOG.info("cells_per_device %d: running the cells in a process pool", per_device)
            executor = "process"
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cells = expand_cells(spec)
    check_and_write_protocol(spec, cells, out)
    if spec.tune is not None:  # an equal tuning budget per entry, then every seed trains the chosen values
        from yololab.experiments.tuning.report import record_studies
        from yololab.experiments.tuning.study import run_tuning
        from yololab.experiments.tuning.apply import tuned_cells

        tuning = run_tuning(spec, out, executor, spec.devices, train_fn)
        cells = tuned_cells(cells, tuning)
        record_studies(out, tuning)
    check_same_settings(spec, out, cells)
    _write_run_info(out, spec, command, executor)
    todo = [c for c in cells if cell_state(CellPaths(cell_dir(out, c))) != CellStatus.DONE]
    LOG.info("%s: %d cell(s), %d finished already, %d to run (%s executor, devices %s) -> %s", spec.name,
             len(cells), len(cells) - len(todo), len(todo), executor, ",".join(spec.devices), out)
    outcomes: list[CellOutcome] = []
    started = time.perf_counter()

    def on_result(cell: Cell, outcome: CellOutcome) -> None:
        outcomes.append(outcome)
        extra = f": {outcome.error}" if outcome.error else ""
        LOG.info("[%d/%d] %s %s in %.0f s (%.0f s elapsed)%s", len(outcomes), len(todo), cell.cell_id,
                 outcome.status, outcome.seconds, time.perf_counter() - started, extra)

    if todo:
        if executor == "local":
            if len(spec.devices) > 1:
                LOG.warning("local executor: one cell at a time on device %s (use --executor process to run "
                            "one cell per device)", spec.devices[0])
            executors.run_local(spec, todo, out, train_fn, spec.devices, on_result, progress)
        elif executor == "process":
            executors.run_process_pool(spec, todo, out, train_fn, spec.devices, on_result, progress)
        else:
            executors.run_ray(spec, todo, out, train_fn, spec.devices, on_result, shared_fs=ray_shared_fs,
                              work_dir=ray_work_dir)
    if bench:
        run_benchmarks(spec, out, cells)
    rows = collect_rows(out, cells, spec.whole_model_weights)
    result = CompareResult(out, rows, outcomes)
    if report:
        from yololab.experiments.report import write_report

        result.report = write_report(spec, out, rows)
    done = sum(r.done for r in rows)
    LOG.info("%d/%d cells done in %.0f s; report: %s", done, len(rows), time.perf_counter() - started,
             result.report.get("html", out))
    return result


def check_same_settings(spec: ExperimentSpec, out: Path, cells: list[Cell]) -> None:
    """Refuse to mix results: a cell folder made with other settings (epochs, hyp, ...) is an error."""
    from yololab.experiments.cell_config import cell_train_config, check_same_config, config_fingerprint

    stale = []
    for cell in cells:
        paths = CellPaths(cell_dir(out, cell))
        try:
            check_same_config(paths, config_fingerprint(cell_train_config(spec, cell, paths.root), spec))
        except ConfigError:
            stale.append(cell.cell_id)
    if stale:
        raise ConfigError(f"{out} holds cell(s) {', '.join(stale)} run with different settings; use another "
                          f"--out folder (or delete those cell folders to re-run them)")


def _write_run_info(out: Path, spec: ExperimentSpec, command: str | None, executor: str) -> None:
    """experiment.yaml (the resolved spec) and run.json (command, versions, device) for the report."""
    atomic_write_text(out / "experiment.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False), out)
    previous = read_json_if_present(out / "run.json") or {}
    info = {"command": previous.get("command") or command or "run_compare(...) from Python",  # the first one
            "executor": executor, "devices": spec.devices, "environment": environment(),
            "started": previous.get("started") or time.strftime("%Y-%m-%d %H:%M:%S"),
            "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "argv": sys.argv, "commands": [*previous.get("commands", []), command] if command else
            previous.get("commands", [])}
    write_json(out / "run.json", info)


def _bench_settings(spec: ExperimentSpec) -> dict:
    return {"version": BENCH_VERSION, "imgsz": spec.resolved_eval_imgsz, "runs": spec.latency_runs,
            "warmup": spec.latency_warmup, "backends": sorted(spec.latency_backends)}


def run_benchmarks(spec: ExperimentSpec, out: Path, cells: list[Cell]) -> None:
    """Latency of each finished cell without bench.json (or with other settings), one at a time."""
    from yololab.experiments.latency import available_backends, benchmark_model

    settings = _bench_settings(spec)
    todo = []
    for cell in cells:
        paths = CellPaths(cell_dir(out, cell))
        old = read_json_if_present(paths.bench) or {}
        if paths.metrics.is_file() and old.get("settings") != settings:
            todo.append((cell, paths))
    backends = tuple(available_backends(spec.latency_backends))
    for i, (cell, paths) in enumerate(todo, 1):
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


def dump_rows(rows: list[CellResult]) -> str:
    from yololab.experiments.records_io import to_flat

    return json.dumps([to_flat(r) for r in rows], indent=2, default=str)
