"""Tuning beyond test_tune.py (kept apart so that file stays quick): trials as Ray tasks (Ray's start-up is
slow) and a study on COCO JSON input."""

from __future__ import annotations

import json

from conftest import require_module
from test_tune import TINY_DATA, run_study, tune_spec  # noqa: F401 - conftest's tiny_data reads TINY_DATA


def test_ray_executor_runs_trials(tiny_data, tmp_path):
    from yololab.experiments.run import dryrun

    ray = require_module("ray", "the optional Ray executor")
    spec = tune_spec(tiny_data, {"trials": 2, "epochs": 1, "pruner": "none"}, backbones=["native"])
    try:
        result = run_study(spec, tmp_path, "ray", ["cpu", "cpu"], dryrun.train)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert result.studies[0].count("complete") == 2
    trials = [json.loads(p.read_text()) for p in tmp_path.glob("tuning/*/trial_*/trial.json")]
    assert len(trials) == 2 and all(t["state"] == "complete" for t in trials)


def test_tuning_on_coco_json_data(tiny_data, tmp_path, one_thread):
    """COCO JSON input (train JSON + val JSON, as for yololab train): trials train and validate on it."""
    from yololab.data.formats.convert import convert

    coco = convert("yolo", "coco", tiny_data, tmp_path / "coco", split=None).out
    spec = tune_spec(coco / "annotations" / "instances_train.json", {"trials": 2, "epochs": 1, "pruner": "none"},
                     backbones=["native"],
                     train={"image_dir": str(coco / "images" / "train"),
                            "val_data": str(coco / "annotations" / "instances_val.json"),
                            "val_image_dir": str(coco / "images" / "val")})
    result = run_study(spec, tmp_path / "out", "local", ["cpu"])
    assert result.studies[0].count("complete") == 2 and result.studies[0].count("failed") == 0


def test_tuning_on_a_voc_folder(coco128_voc, tmp_path, one_thread):
    """A Pascal VOC root (real coco128 photos, LabelImg-style XML): trials train on its train set and are
    scored on its val set, as the cells would be."""

    spec = tune_spec(coco128_voc, {"trials": 2, "epochs": 1, "pruner": "none"}, backbones=["native"])
    result = run_study(spec, tmp_path / "out", "local", ["cpu"])
    assert result.studies[0].count("complete") == 2 and result.studies[0].count("failed") == 0
