"""Tuning trials as Ray tasks (the optional Ray executor; its start-up is slow, so apart from test_tune.py)."""

from __future__ import annotations

import json

from conftest import require_module
from test_tune import tiny_data, tiny_spec  # noqa: F401 - the fixture

def test_ray_executor_runs_trials(tiny_data, tmp_path):
    from yololab.experiments.tuning.study import run_tuning

    ray = require_module("ray", "the optional Ray executor")
    spec = tiny_spec(tiny_data, {"trials": 2, "epochs": 1, "pruner": "none"}, backbones=["native"])
    try:
        result = run_tuning(spec, tmp_path, "ray", ["cpu", "cpu"], "yololab.experiments.dryrun:train")
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert result.studies[0].count("complete") == 2
    trials = [json.loads(p.read_text()) for p in tmp_path.glob("tuning/*/trial_*/trial.json")]
    assert len(trials) == 2 and all(t["state"] == "complete" for t in trials)
