"""run_compare mechanics with an injected trainer: skip finished, resume interrupted, record failures."""

from __future__ import annotations

import json

import pytest
from fixtures import tiny_spec

from yololab.config import ConfigError
from yololab.experiments.run import dryrun
from yololab.experiments.plan.layout import CellPaths, cell_dir
from yololab.experiments.compare import run_compare
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import expand_cells
from yololab.train.config import TrainConfig
from yololab.train.contract import TrainSummary


class CountingTrainer:
    """dryrun.train with a record of every call; ``fail`` backbones raise, ``crash_once`` ones save last.pt
    and then raise (an interrupted run)."""

    def __init__(self, fail: tuple[str, ...] = (), crash_once: tuple[str, ...] = ()) -> None:
        self.calls: list[TrainConfig] = []
        self.fail, self.crash_once = fail, set(crash_once)

    def __call__(self, cfg: TrainConfig, on_epoch_end=None) -> TrainSummary:
        self.calls.append(cfg)
        if cfg.backbone in self.fail:
            raise RuntimeError(f"injected failure for {cfg.backbone}")
        if cfg.backbone in self.crash_once:
            self.crash_once.discard(cfg.backbone)
            from pathlib import Path

            from yololab.models import build_model
            from yololab.models.checkpoints import save_model

            save_model(build_model(cfg.model, cfg.backbone, 3), Path(cfg.out) / "weights" / "last.pt", epoch=0)
            raise RuntimeError("killed mid-training")
        return dryrun.train(cfg)


def test_finished_cells_are_skipped_and_failures_recorded(tiny_data, tmp_path):
    spec = tiny_spec(tiny_data, backbones=["native", "timm:resnet18", "timm:mobilenetv3_small_050"])
    trainer = CountingTrainer(fail=("timm:resnet18",))
    result = run_compare(spec, tmp_path, RunSettings(train_fn=trainer, bench=False, report=False))
    status = {r.cell_id: r.status for r in result.rows}
    assert status == {"yolov5n_cspdarknet_s0": "done", "yolov5n_timm-resnet18_s0": "failed",
                      "yolov5n_timm-mobilenetv3_small_050_s0": "done"}  # the cell after the failure still ran
    failed = next(r for r in result.rows if r.status == "failed")
    assert "injected failure" in failed.error
    assert "injected failure" in json.loads((tmp_path / failed.cell_dir / "error.json").read_text())["traceback"]

    cells = expand_cells(spec)
    mtimes = {c.cell_id: CellPaths(cell_dir(tmp_path, c)).metrics.stat().st_mtime_ns
              for c in cells if c.backbone.name != "timm:resnet18"}
    again = CountingTrainer()
    result = run_compare(spec, tmp_path, RunSettings(train_fn=again, bench=False, report=False))
    assert [c.backbone for c in again.calls] == ["timm:resnet18"]  # only the failed cell is retried
    assert all(r.done for r in result.rows)
    assert not (tmp_path / failed.cell_dir / "error.json").exists()
    for c in cells:
        if c.cell_id in mtimes:
            assert CellPaths(cell_dir(tmp_path, c)).metrics.stat().st_mtime_ns == mtimes[c.cell_id]


def test_interrupted_cell_resumes_from_last_pt(tiny_data, tmp_path):
    spec = tiny_spec(tiny_data, epochs=2)
    first = CountingTrainer(crash_once=("timm:resnet18",))
    result = run_compare(spec, tmp_path, RunSettings(train_fn=first, bench=False, report=False))
    assert [r.status for r in result.rows] == ["done", "failed"]
    assert [c.resume for c in first.calls] == [False, False]
    second = CountingTrainer()
    result = run_compare(spec, tmp_path, RunSettings(train_fn=second, bench=False, report=False))
    assert [(c.backbone, c.resume) for c in second.calls] == [("timm:resnet18", True)]
    assert [r.status for r in result.rows] == ["done", "done"]


def test_trained_but_not_evaluated_cell_is_only_evaluated(tiny_data, tmp_path):
    spec = tiny_spec(tiny_data, backbones=["native"])
    run_compare(spec, tmp_path, RunSettings(train_fn=CountingTrainer(), bench=False, report=False))
    paths = CellPaths(cell_dir(tmp_path, expand_cells(spec)[0]))
    paths.metrics.unlink()  # as if killed during the evaluation
    trainer = CountingTrainer()
    result = run_compare(spec, tmp_path, RunSettings(train_fn=trainer, bench=False, report=False))
    assert trainer.calls == [] and result.rows[0].done


def test_changed_settings_in_the_same_folder_are_an_error(tiny_data, tmp_path):
    run_compare(tiny_spec(tiny_data, backbones=["native"]), tmp_path,
                RunSettings(train_fn=CountingTrainer(), bench=False, report=False))
    with pytest.raises(ConfigError, match="different settings"):  # finished or not, never mixed silently
        run_compare(tiny_spec(tiny_data, backbones=["native"], hyp={"lr0": 0.5}), tmp_path,
                    RunSettings(train_fn=CountingTrainer(), bench=False, report=False))
    trainer = CountingTrainer()  # what does not change a result (devices, workers, latency runs) is fine
    run_compare(tiny_spec(tiny_data, backbones=["native"], workers=1, latency_runs=5), tmp_path,
                RunSettings(train_fn=trainer, bench=False, report=False))
    assert trainer.calls == []


def test_cell_rows_carry_the_metrics(tiny_data, tmp_path):
    result = run_compare(tiny_spec(tiny_data, backbones=["native"]), tmp_path, RunSettings(train_fn=CountingTrainer(),
                         report=False))
    row = result.rows[0]
    assert row.cost.gflops > 0 and row.accuracy.map50_95 is not None and row.cost.train_seconds is not None
    assert row.cost.peak_memory_mb is not None
    assert row.cost.params == 1_767_976 and row.cost.backbone_params < row.cost.params  # yolov5n, 3 classes
    assert set(row.accuracy.per_class) == {"circle", "square", "triangle"}
    latency = row.latency["torch_cpu"]
    assert latency.median_ms > 0 and latency.fps > 0 and "cores" in latency.device


def test_unknown_executor_and_missing_gpu_are_config_errors(tiny_data, tmp_path):
    import torch

    with pytest.raises(ConfigError, match="executor"):
        run_compare(tiny_spec(tiny_data), tmp_path, RunSettings(executor="slurm"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="cpu,cpu"):
            run_compare(tiny_spec(tiny_data), tmp_path, RunSettings(devices="0,1"))
