"""A cell's metrics.json is written from a typed record (``records_io.metrics_flat``) with the keys,
order and values yololab wrote before (old folders resume, the documented columns hold), and reads back
into the same sub-records (``scored_parts``)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from yololab.experiments.run import dryrun
from yololab.experiments.compare import run_compare
from yololab.experiments.plan.layout import CellPaths, cell_dir
from yololab.eval.results import ClassAP
from yololab.experiments.results.records import (Accuracy, AnalysisSummary, CellResult, Cost, Entry, Provenance)
from yololab.experiments.results.records_io import entry_from_flat, metrics_flat, scored_parts
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import expand_cells, spec_from_mapping
from yololab.experiments.results.status import CellStatus
from yololab.hardware import cpu_name
from yololab.jsonfile import json_sha256, to_json

#: metrics.json of a dry-run cell as written by 6a0d033 (the dict-building run_cell), from the
#: comparison in test_run_cell_writes_todays_keys_and_values
GOLDEN = Path(__file__).parent / "data" / "metrics_6a0d033.json"


def _record_of(metrics: dict) -> CellResult:
    accuracy, cost, provenance, analysis = scored_parts(metrics)
    return CellResult(metrics["cell_id"], entry_from_flat(metrics), metrics["seed"], CellStatus.DONE,
                      reference=metrics["reference"], accuracy=accuracy, cost=cost, provenance=provenance,
                      analysis=analysis)


def test_metrics_flat_writes_the_old_file_byte_for_byte():
    text = GOLDEN.read_text()
    assert to_json(metrics_flat(_record_of(json.loads(text)))) == text


def test_scored_parts_reads_back_what_metrics_flat_wrote():
    record = CellResult(
        "yolov5n_x_s3", Entry("yolov5n", "x", "timm:x", False, "pretrained", True, 2, 0.1), 3, CellStatus.DONE,
        reference="cspdarknet",
        accuracy=Accuracy(0.3, 0.5, 0.31, None, 0.2, 0.4, best_map50_95=0.29,
                          per_class={"cat": ClassAP(0.3, 0.5, 7)}),
        cost=Cost(10, 4, 1, 3, 2, 0.5, 12.5, 30.0, 100.0, 3),
        provenance=Provenance(eval_imgsz=64, weights="last.pt", checkpoint="last", score_split="test",
                              num_score_images=5, train_device="cpu", fingerprint="f", gt_sha256="g",
                              detections_file="detections_test.json", detections_sha256="d",
                              matches_file="matches_test.npz"),
        analysis=AnalysisSummary(0.4, 0.6, {"loc": 1.0}, {"loc": 2}, 0.5, 0.52))
    flat = metrics_flat(record)
    assert "num_val_images" not in flat and "status" not in flat  # as before: a test-split cell has no val count
    assert scored_parts(flat) == (record.accuracy, record.cost, record.provenance, record.analysis)
    assert _record_of(json.loads(to_json(flat))) == record
    no_analysis = CellResult("c", Entry("yolov5n", "x"), 0, CellStatus.DONE)
    assert metrics_flat(no_analysis)["analysis"] is None and scored_parts(metrics_flat(no_analysis))[3] is None


def test_run_cell_writes_todays_keys_and_values(tmp_path):
    from yololab.data import make_synthetic_dataset

    data = make_synthetic_dataset(tmp_path / "data", num_train=4, num_val=3, img_size=64, seed=1)
    spec = spec_from_mapping({"name": "tiny", "data": str(data), "models": ["yolov5n"], "backbones": ["native"],
                              "seeds": [0], "epochs": 1, "imgsz": 64, "batch": 2, "workers": 0, "eval_batch": 4,
                              "latency_runs": 2, "latency_warmup": 1, "latency_backends": ["torch"]})
    out = tmp_path / "cmp"
    run_compare(spec, out, RunSettings(train_fn=dryrun.train, bench=False, report=False))
    paths = CellPaths(cell_dir(out, expand_cells(spec)[0]))
    new, old = json.loads(paths.metrics.read_text()), json.loads(GOLDEN.read_text())
    tiny = new.pop("map_tiny", None)  # written since issue 25 where the split has objects under 16^2 px (sparse)
    assert tiny is None or isinstance(tiny, float)
    assert list(new) == list(old)  # the same keys in the same order
    # what differs from run to run or machine to machine is what it was before
    assert new.pop("fingerprint") == yaml.safe_load(paths.cell_yaml.read_text())["fingerprint"]
    assert new.pop("train_device") == cpu_name()
    detections = json.loads(paths.detections("val").read_text())
    assert new.pop("detections_sha256") == json_sha256(detections)
    assert new.pop("train_seconds") > 0 and new.pop("peak_memory_mb") > 0
    # detection-based figures of this random-init model may move with the CPU's kernels: their shape is checked
    scored = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large", "best_map50_95", "per_class",
              "analysis")
    for key in scored:
        mine, before = new.pop(key), old[key]
        assert type(mine) is type(before) and (not isinstance(before, dict) or _keys(mine) == _keys(before)), key
    assert {k: v for k, v in old.items() if k in new} == new


def _keys(tree: dict) -> dict:
    return {k: _keys(v) if isinstance(v, dict) else None for k, v in tree.items()}
