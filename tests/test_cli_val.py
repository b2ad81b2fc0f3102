"""``yololab val``: the real yolov5n.pt on coco128 matches upstream, --gt/--dt equals pycocotools,
and user errors give one clear line and a non-zero exit status (no traceback)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

from yololab.cli import main


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_val_cli_upstream_yolov5n_on_coco128(yolov5n_pt: Path, coco128: Path, tmp_path: Path, capsys) -> None:
    metrics_json, dt_json = tmp_path / "metrics.json", tmp_path / "dt.json"
    code, out, err = _run(["val", "--weights", str(yolov5n_pt), "--data", str(coco128 / "data.yaml"),
                           "--imgsz", "640", "--batch", "16", "--workers", "0", "--json", str(metrics_json),
                           "--save-dt", str(dt_json), "--per-class"], capsys)
    assert code == 0, err
    metrics = json.loads(metrics_json.read_text())
    # upstream val.py prints mAP50 0.526, mAP50-95 0.343 for this checkpoint and split (batch-dependent rect
    # batches); every image at its own letterbox shape scores 0.348 (test_eval_batch_independence.py)
    assert metrics["map50_95"] == pytest.approx(0.3479, abs=5e-4)
    assert metrics["map50"] == pytest.approx(0.526, abs=0.015)
    assert 0 < metrics["map75"] < metrics["map50"]
    assert "person" in metrics["per_class"] and metrics["per_class"]["person"]["instances"] > 0
    assert "mAP50-95" in out and "person" in out

    # the saved detections re-scored through --gt/--dt give the same numbers
    from yololab.data import load_data_config, load_split
    from yololab.eval.coco import yolo_records_to_coco_gt

    records, _ = load_split(coco128 / "data.yaml", "val", log=False)
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(yolo_records_to_coco_gt(records, load_data_config(coco128 / "data.yaml").names)))
    rescored = tmp_path / "rescored.json"
    code, _, err = _run(["val", "--gt", str(gt_json), "--dt", str(dt_json), "--json", str(rescored)], capsys)
    assert code == 0, err
    again = json.loads(rescored.read_text())
    for key in ("map50_95", "map50", "map75"):
        assert again[key] == pytest.approx(metrics[key], abs=1e-9)


def _synthetic_gt_dt(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    images, annotations, detections = [], [], []
    categories = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 7, "name": "bird"}]
    for image_id in range(1, 13):
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 320, "height": 240})
        for _ in range(int(rng.integers(1, 5))):
            x, y = rng.uniform(0, 200), rng.uniform(0, 150)
            w, h = rng.uniform(8, 110), rng.uniform(8, 80)
            cat = int(rng.choice([1, 3, 7]))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            if rng.random() < 0.8:  # a jittered true positive, sometimes with the wrong class
                jitter = rng.normal(0, 4, 4)
                detections.append({"image_id": image_id, "category_id": cat if rng.random() < 0.85 else 1,
                                   "bbox": [x + jitter[0], y + jitter[1], max(w + jitter[2], 2),
                                            max(h + jitter[3], 2)], "score": float(rng.uniform(0.3, 1))})
        for _ in range(int(rng.integers(0, 3))):  # false positives
            detections.append({"image_id": image_id, "category_id": int(rng.choice([1, 3, 7])),
                               "bbox": [float(rng.uniform(0, 250)), float(rng.uniform(0, 180)), 30.0, 20.0],
                               "score": float(rng.uniform(0, 0.6))})
    gt, dt = tmp_path / "gt.json", tmp_path / "dt.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    dt.write_text(json.dumps(detections))
    return gt, dt


def test_val_gt_dt_equals_pycocotools(tmp_path: Path, capsys) -> None:
    require_module("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dt = _synthetic_gt_dt(tmp_path)
    out_json = tmp_path / "m.json"
    code, out, err = _run(["val", "--gt", str(gt), "--dt", str(dt), "--json", str(out_json)], capsys)
    assert code == 0, err
    ours = json.loads(out_json.read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(dt)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    reference = dict(zip(("map50_95", "map50", "map75", "map_small", "map_medium", "map_large"), ev.stats[:6]))
    assert reference["map50_95"] > 0.1
    for key, value in reference.items():
        assert ours[key] == pytest.approx(max(value, 0.0), abs=1e-6), key
    assert set(ours["per_class"]) == {"cat", "dog", "bird"}
    assert "mAP50-95" in out


def test_val_user_errors_exit_nonzero_without_traceback(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data.yaml"
    data.write_text("train: [unclosed\n")
    weights = tmp_path / "missing.pt"
    cases = [
        (["val", "--weights", str(weights), "--data", str(tmp_path / "nope.yaml")], "does not exist"),
        (["val", "--weights", str(weights), "--data", str(data)], str(data)),
        (["val", "--gt", str(tmp_path / "gt.json")], "--gt and --dt"),
        (["val", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json")], "does not exist"),
        (["val", "--data", str(data)], "--weights"),
    ]
    for argv, expected in cases:
        code, _, err = _run(argv, capsys)
        assert code != 0, argv
        assert expected in err and "Traceback" not in err, (argv, err)
        assert err.startswith("yololab val: error:"), err

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    code, _, err = _run(["val", "--gt", str(garbage), "--dt", str(garbage)], capsys)
    assert code != 0 and "Traceback" not in err and "yololab val: error:" in err


def test_val_missing_weights_with_valid_data(tmp_path: Path, capsys) -> None:
    from yololab.data import make_synthetic_dataset

    data = make_synthetic_dataset(tmp_path / "syn", num_train=1, num_val=2, img_size=64)
    code, _, err = _run(["val", "--weights", str(tmp_path / "none.pt"), "--data", str(data)], capsys)
    assert code == 2 and "checkpoint not found" in err and "Traceback" not in err


def test_val_gt_dt_metric_and_plots(tmp_path) -> None:
    """--metric voc12/voc07 and --plots on a pair whose AP is known by hand: one object, a false
    positive scored above the true positive -> precision 0.5 at recall 1, so AP50 = 0.5 either way."""
    import json

    from yololab.cli import main

    gt = {"images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 100}],
          "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 10, 40, 40], "area": 1600,
                           "iscrowd": 0}],
          "categories": [{"id": 3, "name": "car"}]}
    dt = [{"image_id": 7, "category_id": 3, "bbox": [60, 60, 30, 30], "score": 0.9},
          {"image_id": 7, "category_id": 3, "bbox": [10, 10, 40, 40], "score": 0.8}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    for metric in ("voc12", "voc07"):
        out = tmp_path / f"{metric}.json"
        assert main(["val", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json"),
                     "--metric", metric, "--plots", str(tmp_path / "plots"), "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        assert abs(result[f"{metric}_map50"] - 0.5) < 1e-9
        assert abs(result["map50"] - 0.5) < 1e-9
    assert result["analysis"]["error_counts"]["bkg"] == 1 and result["analysis"]["error_counts"]["miss"] == 0
    for name in ("confusion_matrix.csv", "confusion_matrix.png", "pr_curve.png", "f1_curve.png", "errors.json"):
        assert (tmp_path / "plots" / name).stat().st_size > 0


def test_val_bootstrap_cli_paired_and_single(tmp_path) -> None:
    """--dt-ref: a file against itself is delta 0, CI [0, 0], p = 1; against a copy with one object
    missed on every image the delta is negative with a CI below 0. --bootstrap alone gives CIs."""
    import json

    import numpy as np

    from yololab.cli import main

    rng = np.random.default_rng(0)
    images, annotations, good, worse = [], [], [], []
    for i in range(40):
        images.append({"id": 1000 + i, "file_name": f"im{i}.jpg", "width": 200, "height": 200})
        for k in range(2):
            box = [float(rng.uniform(0, 100)), float(rng.uniform(0, 100)), 40.0, 40.0]
            annotations.append({"id": len(annotations) + 1, "image_id": 1000 + i, "category_id": 5, "bbox": box,
                                "area": 1600.0, "iscrowd": 0})
            det = {"image_id": 1000 + i, "category_id": 5, "bbox": [box[0] + 1, box[1], 40, 40],
                   "score": round(float(rng.uniform(0.3, 1.0)), 5)}
            good.append(det)
            if k == 0:
                worse.append(det)
    gt = {"images": images, "annotations": annotations, "categories": [{"id": 5, "name": "thing"}]}
    paths = {}
    for name, obj in (("gt", gt), ("good", good), ("worse", worse)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(obj))

    def run(*extra: str) -> dict:
        out = tmp_path / "out.json"
        assert main(["val", "--gt", str(paths["gt"]), "--dt", str(paths["good"]), "--json", str(out), *extra]) == 0
        return json.loads(out.read_text())

    same = run("--dt-ref", str(paths["good"]), "--bootstrap", "200")
    assert same["delta_map50_95"] == 0 and same["delta_map50_95_ci95"] == [0, 0] and same["p_value"] == 1
    better = run("--dt-ref", str(paths["worse"]), "--bootstrap", "200", "--seed", "3")
    assert better["delta_map50"] > 0.2 and better["delta_map50_ci95"][0] > 0 and better["p_value_map50"] < 0.01
    assert better["map50"] == run()["map50"]  # the point estimate is the plain COCO mAP
    single = run("--bootstrap", "200")
    lo, hi = single["map50_95_ci95"]
    assert lo <= single["map50_95"] <= hi and single["bootstrap"] == 200 and single["images"] == 40
