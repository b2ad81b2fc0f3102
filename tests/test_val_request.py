"""``yololab val``'s typed request: checked as a whole where the command line is read, and the one
scorer's record (score_coco) agrees with its plain-dict form."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from yololab.errors import UserError
from yololab.eval.coco import detections_to_coco, evaluate_coco, score_coco
from yololab.eval.extras import ExtraOptions, ExtraReport, score_extras
from yololab.eval.request import ModelRun, ResultsFiles, ValRequest
from yololab.eval.results import CocoMetrics
from yololab.eval.validate import ValSettings


def _model(weights: str | None = "w.pt", data: str | None = "d.yaml") -> ModelRun:
    return ModelRun(weights, data, ValSettings())


@pytest.mark.parametrize("kwargs, message", [
    (dict(files=None, model=None), "give --weights and --data (or --gt and --dt)"),
    (dict(files=None, model=_model(data=None)), "give --weights and --data"),
    (dict(files=ResultsFiles(Path("gt.json"), None), model=None), "--gt and --dt go together"),
    (dict(files=ResultsFiles(Path("gt.json"), Path("dt.json")), model=_model()), "not both"),
    (dict(files=None, model=_model(), extras=ExtraOptions(dt_ref=Path("ref.json"))), "--dt-ref compares two"),
    (dict(files=ResultsFiles(Path("gt.json"), Path("dt.json")), model=None, extras=ExtraOptions(bootstrap=0)),
     "--bootstrap 0: the number of resamples must be >= 1"),
])
def test_a_request_that_cannot_run_is_refused_in_one_sentence(kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ValRequest(**kwargs)


def test_a_request_is_frozen():
    request = ValRequest(files=None, model=_model())
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.model = None  # type: ignore[misc]


def test_cli_refuses_a_bad_bootstrap_with_exit_2(tmp_path, capsys):
    from yololab.cli import main

    code = main(["val", "--gt", str(tmp_path / "g.json"), "--dt", str(tmp_path / "d.json"), "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("yololab val: error: --bootstrap 0") and "Traceback" not in err


def _gt() -> dict:
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 0, "bbox": [40, 15, 20, 20], "area": 400,
                             "iscrowd": 0}],
            "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]}


def test_score_coco_is_the_record_of_evaluate_coco():
    dt = detections_to_coco(1, np.array([[40.0, 15.0, 60.0, 35.0, 0.9, 0], [0, 0, 10, 10, 0.8, 1]]))
    metrics, plain = score_coco(_gt(), dt), evaluate_coco(_gt(), dt)
    assert isinstance(metrics, CocoMetrics) and metrics.map50 == pytest.approx(1.0)
    assert metrics.map_large is None and plain["map_large"] == 0.0  # COCO's -1: no large objects
    assert list(metrics.stats) == plain["stats"] and metrics.num_detections == plain["num_detections"] == 2
    assert {n: dataclasses.astuple(c) for n, c in metrics.per_class.items()} == \
        {n: (c["ap50_95"], c["ap50"], c["instances"]) for n, c in plain["per_class"].items()}


def test_no_extras_asked_none_computed():
    assert score_extras(_gt(), [], ExtraOptions()) == ExtraReport()
