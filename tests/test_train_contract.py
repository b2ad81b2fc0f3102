"""The trainer contract: a frozen TrainSummary in memory, train.json written from it as a record, and a cell
trained by an earlier run (an older train.json included) scored from its record without training again."""

from __future__ import annotations

import dataclasses
import json

import pytest

from yololab.experiments.compare import run_compare
from yololab.experiments.plan.layout import CellPaths, cell_dir
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import expand_cells, spec_from_mapping
from yololab.experiments.run import dryrun
from yololab.train.contract import TrainSummary

# train.json as yololab wrote it before the contract: the trainer's dict plus pid and device
OLD_TRAINER_RECORD = {"out": "/x", "last": "/x/weights/last.pt", "best": "/x/weights/best.pt", "best_fitness": 0.31,
                      "best_map50_95": 0.29, "selects_best": True, "final_metrics": {"map50": 0.5, "map50_95": 0.28},
                      "train_seconds": 12.5, "images_per_second": 40.0, "peak_memory_mb": 900.0, "epochs_run": 3,
                      "stopped_early": False, "world_size": 1, "stopped_by_hook": False, "pid": 123, "device": "cpu"}
OLD_DRY_RUN_RECORD = {"best": "/x/b.pt", "last": "/x/l.pt", "best_map50_95": 0.0, "metrics": {"map50": 0.1},
                      "train_seconds": 0.2, "images_per_second": 0.0, "peak_memory_mb": 10.0, "epochs_run": 0,
                      "dry_run": True, "pid": 7, "device": "cpu"}


TINY_DATA = {"seed": 4}  # conftest's tiny_data


def test_summary_is_frozen_and_its_record_keeps_the_old_keys():
    summary = TrainSummary.from_record(OLD_TRAINER_RECORD)
    assert summary.train_seconds == 12.5 and summary.final_metrics["map50_95"] == 0.28 and summary.epochs_run == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.epochs_run = 4
    assert set(summary.record()) >= set(OLD_TRAINER_RECORD) - {"pid", "device"}
    assert TrainSummary.from_record(summary.record()) == summary
    dry = TrainSummary.from_record(OLD_DRY_RUN_RECORD)  # the dry run's old 'metrics' key
    assert dry.dry_run and dry.final_metrics == {"map50": 0.1} and dry.peak_memory_mb == 10.0


def never_train(cfg, on_epoch_end=None) -> TrainSummary:
    raise AssertionError("a trained cell must not be trained again")


def test_a_cell_trained_by_an_earlier_run_is_scored_from_its_old_record(tiny_data, tmp_path):
    spec = spec_from_mapping({"name": "old", "data": str(tiny_data), "models": ["yolov5n"], "backbones": ["native"],
                              "seeds": [0], "epochs": 1, "imgsz": 64, "batch": 2, "workers": 0, "eval_batch": 4})
    first = run_compare(spec, tmp_path, RunSettings(train_fn=dryrun.train, bench=False, report=False))
    paths = CellPaths(cell_dir(tmp_path, expand_cells(spec)[0]))
    record = json.loads(paths.train_json.read_text())
    assert first.rows[0].done and record["dry_run"] is True and record["pid"] > 0 and "final_metrics" in record
    # an older yololab's folder, stopped after training and before scoring
    paths.metrics.unlink()
    paths.train_json.write_text(json.dumps(OLD_TRAINER_RECORD))
    again = run_compare(spec, tmp_path, RunSettings(train_fn=never_train, bench=False, report=False))
    assert again.rows[0].done and [o.status for o in again.outcomes] == ["done"]
    cost = again.rows[0].cost
    assert (cost.train_seconds, cost.epochs_run, again.rows[0].accuracy.best_map50_95) == (12.5, 3, 0.29)
    assert json.loads(paths.train_json.read_text()) == OLD_TRAINER_RECORD  # a record: left as it was
