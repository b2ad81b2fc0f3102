"""Parallel executors (process pool with 2 CPU workers, Ray) and a real kill + re-run from the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import require_module
from fixtures import tiny_spec

from yololab.experiments.plan.layout import CellPaths, cell_dir
from yololab.jsonfile import read_json_if_present
from yololab.experiments.compare import run_compare
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import expand_cells, spec_from_mapping
from yololab.experiments.run import dryrun

DRY_RUN = dryrun.train


TINY_DATA = {"seed": 2}  # conftest's tiny_data


def par_spec(data, backbones):
    return tiny_spec(data, name="par", backbones=list(backbones))


def test_process_pool_with_two_cpu_workers(tiny_data, tmp_path):
    spec = par_spec(tiny_data, backbones=("native", "timm:nope"))
    result = run_compare(spec, tmp_path, RunSettings(executor="process", devices="cpu,cpu", train_fn=DRY_RUN,
                                                     bench=False, report=False))
    status = {r.entry.label: r.status for r in result.rows}
    assert status == {"cspdarknet": "done", "timm:nope": "failed"}
    assert "nope" in next(r.error for r in result.rows if r.status == "failed")
    assert len(result.outcomes) == 2
    trained = read_json_if_present(CellPaths(cell_dir(tmp_path, expand_cells(spec)[0])).train_json)
    assert trained["pid"] != os.getpid()  # the cell ran in a pool worker


def dies_on_swapped_backbones(cfg):
    """A trainer whose worker is killed (as by the out-of-memory killer) when it trains a swapped backbone."""
    from yololab.experiments.run import dryrun

    if cfg.backbone is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return dryrun.train(cfg)


def test_a_killed_pool_worker_fails_its_cell_and_a_rerun_resumes_it(tiny_data, tmp_path):
    spec = par_spec(tiny_data, backbones=("native", "timm:resnet18"))
    result = run_compare(spec, tmp_path, RunSettings(executor="process", devices="cpu", bench=False, report=False,
                                                     train_fn=dies_on_swapped_backbones))
    assert [r.status for r in result.rows] == ["done", "pending"]  # the folder has no error.json: not run
    assert result.outcomes[-1].status == "failed" and "worker process died" in result.outcomes[-1].error
    again = run_compare(spec, tmp_path, RunSettings(executor="process", devices="cpu", train_fn=DRY_RUN, bench=False,
                                                    report=False))
    assert [r.status for r in again.rows] == ["done", "done"] and len(again.outcomes) == 1


@pytest.fixture(scope="module")
def ray_running():
    """One local Ray for both test_ray_executor cases (starting Ray takes seconds): a pool uses a Ray already
    running and leaves it running; test_tune_inputs.py covers a pool starting (and stopping) its own."""
    ray = require_module("ray", "the optional Ray executor")
    from yololab.experiments.pool.worker import WORKER_OMP_WAIT_POLICY

    assert not ray.is_initialized()
    ray.init(address="local", include_dashboard=False, num_cpus=os.cpu_count() or 1,
             runtime_env={"env_vars": {"OMP_WAIT_POLICY": WORKER_OMP_WAIT_POLICY}})
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("shared_fs", [False, True], ids=["node-local", "shared-fs"])
def test_ray_executor(tiny_data, tmp_path, shared_fs, ray_running):
    spec = par_spec(tiny_data, backbones=("native", "timm:nope"))
    result = run_compare(spec, tmp_path, RunSettings(executor="ray", devices="cpu,cpu", train_fn=DRY_RUN,
                                                     bench=False, report=False, ray_shared_fs=shared_fs))
    assert ray_running.is_initialized()  # not the pool's to stop
    assert [r.status for r in result.rows] == ["done", "failed"]
    trained = read_json_if_present(CellPaths(cell_dir(tmp_path, expand_cells(spec)[0])).train_json)
    assert trained["pid"] != os.getpid()


def test_sigkill_midway_then_rerun_skips_finished_cells(tiny_data, tmp_path):
    """Kill `yololab compare` after its first cell is done; the re-run trains only the other one."""
    spec = par_spec(tiny_data, backbones=("native", "timm:mobilenetv3_small_050"))
    cells = expand_cells(spec)
    first = CellPaths(cell_dir(tmp_path, cells[0]))
    cmd = [sys.executable, "-m", "yololab", "compare", "--data", str(tiny_data), "--models", "yolov5n",
           "--backbones", ",".join(b.name for b in spec.backbones), "--epochs", "1", "--imgsz", "64", "--batch", "2",
           "--workers", "0", "--out", str(tmp_path), "--dry-run", "--latency-runs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not first.metrics.is_file():
            assert proc.poll() is None, "compare exited before its first cell finished"
            assert time.monotonic() < deadline, "first cell did not finish in time"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    states = [CellPaths(cell_dir(tmp_path, c)).metrics.is_file() for c in cells]
    assert states[0] and not all(states), "killed too late: every cell had finished"
    done_before = {c.cell_id: CellPaths(cell_dir(tmp_path, c)).metrics.stat().st_mtime_ns
                   for c, done in zip(cells, states) if done}

    calls = []

    def counting(cfg):
        from yololab.experiments.run import dryrun

        calls.append(cfg.backbone)
        return dryrun.train(cfg)

    rerun = spec_from_mapping({"data": str(tiny_data), "models": ["yolov5n"], "epochs": 1, "imgsz": 64, "batch": 2,
                               "workers": 0, "latency_runs": 2,
                               "backbones": [b.name for b in spec.backbones]})  # what the command line said
    result = run_compare(rerun, tmp_path, RunSettings(train_fn=counting, bench=False, report=False))
    assert all(r.done for r in result.rows)
    assert len(calls) == len(cells) - len(done_before) and None not in calls  # the native cell was not retrained
    for cell_id, mtime in done_before.items():
        assert (tmp_path / "cells" / cell_id / "metrics.json").stat().st_mtime_ns == mtime
