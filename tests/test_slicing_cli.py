"""``yololab val --slice`` and ``yololab predict --slice`` on real photos, the ``tiny`` area bin, COCO's
maximum detections, and bad slice settings as one sentence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from yololab.cli import main
from yololab.eval.coco import evaluate_coco, score_coco

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def two_photos(coco128, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("two")
    for sub in ("images", "labels"):
        (root / sub / "val").mkdir(parents=True)
    for f in sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:2]:
        shutil.copy(f, root / "images" / "val" / f.name)
        shutil.copy(coco128 / "labels" / "val2017" / f"{f.stem}.txt", root / "labels" / "val" / f"{f.stem}.txt")
    names = (coco128 / "data.yaml").read_text().split("names:", 1)[1]
    (root / "data.yaml").write_text(f"path: .\ntrain: images/val\nval: images/val\nnames:{names}")
    return root


def test_val_slice_scores_stitched_detections_on_the_full_images(yolov5n_pt, two_photos, tmp_path, capsys):
    out = tmp_path / "m.json"
    code = main(["val", "--weights", str(yolov5n_pt), "--data", str(two_photos / "data.yaml"), "--imgsz", "320",
                 "--slice", "320", "--workers", "0", "--json", str(out), "--save-dt", str(tmp_path / "dt.json")])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    metrics = json.loads(out.read_text())
    assert metrics["slicing"] == {"size": 320, "overlap": 0.2, "merge": "nms", "metric": "iou", "threshold": 0.5,
                                  "full_pass": True, "class_agnostic": False}
    assert metrics["map50"] > 0.2 and "map_tiny" in metrics and "APt" in printed.out
    dt = json.loads((tmp_path / "dt.json").read_text())
    widths = {im: 0 for im in {d["image_id"] for d in dt}}
    for d in dt:  # boxes are in full-image pixels: some reach past the first slice
        widths[d["image_id"]] = max(widths[d["image_id"]], d["bbox"][0] + d["bbox"][2])
    assert max(widths.values()) > 320


def test_predict_slice_writes_full_image_boxes(yolov5n_pt, two_photos, tmp_path, capsys):
    code = main(["predict", "--weights", str(yolov5n_pt), "--source", str(two_photos / "images" / "val"),
                 "--imgsz", "320", "--slice", "320", "--no-images", "--out", str(tmp_path / "p"), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    dets = json.loads((tmp_path / "p" / "predictions.json").read_text())
    assert dets and max(d["bbox"][0] + d["bbox"][2] for d in dets) > 320


@pytest.mark.parametrize("argv, words", [
    (["--slice", "8"], "--slice 8: a slice must be at least the model's stride of 32 px"),
    (["--slice", "320", "--slice-overlap", "1"], "--slice-overlap 1.0"),
    (["--merge", "nmm"], "add --slice SIZE"),
])
def test_bad_slice_settings_are_one_sentence(yolov5n_pt, two_photos, capsys, argv, words):
    code = main(["val", "--weights", str(yolov5n_pt), "--data", str(two_photos / "data.yaml"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _gt_dt(sizes: list[float]) -> tuple[dict, list[dict]]:
    gt = {"images": [{"id": 1, "width": 1000, "height": 1000}], "categories": [{"id": 0, "name": "a"}],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": 0, "bbox": [60.0 * i, 0, s, s], "area": s * s,
                           "iscrowd": 0} for i, s in enumerate(sizes)]}
    return gt, [{"image_id": 1, "category_id": 0, "bbox": a["bbox"], "score": 0.9} for a in gt["annotations"]]


def test_tiny_bin_next_to_coco_bins():
    gt, dt = _gt_dt([10, 12, 20])  # tiny: < 16^2 px; small: < 32^2 px
    dt[1].update(bbox=[500.0, 500, 12, 12], score=0.1)  # one of the two tiny objects missed
    metrics = score_coco(gt, dt)
    assert metrics.map_tiny == pytest.approx(0.5, abs=0.01) and metrics.map_small == pytest.approx(2 / 3, abs=0.01)
    assert metrics.map50 == pytest.approx(2 / 3, abs=0.01)
    assert score_coco(*_gt_dt([40, 50])).map_tiny is None  # no tiny objects


def test_coco_max_det_counts_more_detections():
    gt, dt = _gt_dt([10.0] * 1)
    rng = np.random.default_rng(0)
    many = [{"image_id": 1, "category_id": 0, "bbox": [float(x), 900.0, 5.0, 5.0], "score": 0.95} for x in
            rng.uniform(0, 900, 150)]
    dt = many + [{**dt[0], "score": 0.5}]  # the only true positive ranks 151st
    assert evaluate_coco(gt, dt)["map50"] == 0
    assert evaluate_coco(gt, dt, max_dets=500)["map50"] > 0


def test_predict_and_val_paths_slice_alike(yolov5n_pt, two_photos):
    """The deploy Predictor and val's ModelSliceDetector, same model and thresholds: the same merged boxes."""
    from yololab.data.imaging.images import read_image
    from yololab.deploy.runtime.pipeline import Predictor
    from yololab.eval.sliced import ModelSliceDetector, predict_sliced
    from yololab.eval.slicing import SliceSettings
    from yololab.models.checkpoints import load_model

    image = read_image(sorted((two_photos / "images" / "val").glob("*.jpg"))[0])
    settings = SliceSettings(320, merge="greedynmm", metric="ios")
    deploy = predict_sliced(image, Predictor(yolov5n_pt, 320, conf=0.25, iou=0.45, device="cpu"), settings)
    model = load_model(yolov5n_pt).float().fuse().eval()
    val = predict_sliced(image, ModelSliceDetector(model, 320, conf=0.25, iou=0.45, multi_label=False), settings)
    assert len(deploy) > 3 and deploy.shape == val.shape
    np.testing.assert_allclose(deploy, val, atol=0.05)
