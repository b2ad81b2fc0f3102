"""A COCO JSON data set keeps its identity: ``yololab val`` on it equals pycocotools run directly on that
JSON and the results file yololab wrote (all 12 stats), with the quirks of real exports: non-numeric file
names in sub-folders, large image ids out of file order, 91-style category ids listed unsorted, crowd
regions, areas from masks, segmentation fields and images without annotations."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from yololab.cli import main
from yololab.data import load_split
from yololab.data.source import open_split
from yololab.eval.coco import coco80_to_coco91

pytestmark = pytest.mark.usefixtures("one_thread")

N_IMAGES = 24
AREA_FACTOR = 0.6  # mask area vs box area: moves objects across the 32^2 / 96^2 boundaries


def _names(coco128: Path) -> list[str]:
    import yaml

    names = yaml.safe_load((coco128 / "data.yaml").read_text())["names"]
    return list(names.values()) if isinstance(names, dict) else list(names)


def build_export(coco128: Path, root: Path, scale: float = 1.0) -> tuple[Path, Path, dict]:
    """A COCO JSON like a real export over the first ``N_IMAGES`` coco128 val images (linked under new
    names); ``scale`` multiplies the JSON's sizes and boxes (a JSON made for a larger copy)."""
    records, _ = load_split(coco128 / "data.yaml", "val", cache=False, log=False)
    records = records[:N_IMAGES]
    image_dir = root / "images"
    (image_dir / "batch_a").mkdir(parents=True)
    (image_dir / "batch_b").mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids = [10**12 + int(i) * 7919 for i in rng.permutation(len(records))]  # large, not in file order
    coco91 = coco80_to_coco91()
    images, anns = [], []
    for k, (rec, iid) in enumerate(zip(records, ids)):
        name = f"batch_{'ab'[k % 2]}/frame-{chr(97 + k % 26)}{k}.JPG"
        (image_dir / name).symlink_to(rec.path)
        w_img, h_img = rec.width * scale, rec.height * scale
        images.append({"id": iid, "file_name": name, "width": round(w_img), "height": round(h_img),
                       "license": 1, "coco_url": ""})
        if k == 3:
            continue  # an image without annotations: its detections are false positives
        boxes = []
        for cls, cx, cy, w, h in rec.labels.tolist():
            x, y, bw, bh = (cx - w / 2) * w_img, (cy - h / 2) * h_img, w * w_img, h * h_img
            boxes.append((x, y, bw, bh))
            anns.append({"id": 500 + len(anns), "image_id": iid, "category_id": coco91[int(cls)],
                         "bbox": [x, y, bw, bh], "area": AREA_FACTOR * bw * bh,
                         "iscrowd": int(len(anns) % 9 == 4),
                         "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]})
        if len(boxes) >= 3:  # a crowd region over several objects, as COCO has for groups of people
            x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
            x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
            anns.append({"id": 500 + len(anns), "image_id": iid, "category_id": coco91[int(rec.labels[0, 0])],
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "area": 0.5 * (x1 - x0) * (y1 - y0), "iscrowd": 1,
                         "segmentation": {"counts": [0, 1], "size": [round(h_img), round(w_img)]}})
    names = _names(coco128)
    cats = [{"id": c, "name": n, "supercategory": "thing"} for c, n in zip(coco91, names)][::-1]  # unsorted
    gt = {"info": {"description": "export"}, "licenses": [], "images": images[::-1], "annotations": anns,
          "categories": cats}
    path = root / "instances_export.json"
    path.write_text(json.dumps(gt))
    return path, image_dir, gt


def pycocotools_stats(gt_json: Path, dt_json: Path) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_json))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(dt_json)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:12])


@pytest.mark.slow
def test_val_on_coco_json_equals_pycocotools(coco128: Path, yolov5n_pt: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("pycocotools")
    gt_json, image_dir, gt = build_export(coco128, tmp_path)
    crowd = [a for a in gt["annotations"] if a["iscrowd"]]
    assert len(crowd) >= 3
    plain = [a for a in gt["annotations"] if not a["iscrowd"]]
    moved = [a for a in plain if (a["area"] < 32**2) != (a["bbox"][2] * a["bbox"][3] < 32**2)
             or (a["area"] < 96**2) != (a["bbox"][2] * a["bbox"][3] < 96**2)]
    assert moved, "the mask areas should move some objects between small, medium and large"

    dt_json, m_json = tmp_path / "dt.json", tmp_path / "m.json"
    code = main(["val", "--weights", str(yolov5n_pt), "--data", str(gt_json), "--image-dir", str(image_dir),
                 "--imgsz", "320", "--batch", "8", "--workers", "0", "--save-dt", str(dt_json),
                 "--json", str(m_json)])
    assert code == 0, capsys.readouterr().err
    ours = json.loads(m_json.read_text())
    dts = json.loads(dt_json.read_text())
    assert {d["image_id"] for d in dts} <= {im["id"] for im in gt["images"]}
    assert {d["category_id"] for d in dts} <= {c["id"] for c in gt["categories"]}
    assert ours["map50_95"] > 0.1  # a real model on real images: far from the 0.000 of the issue

    ref = pycocotools_stats(gt_json, dt_json)
    np.testing.assert_allclose(ours["stats"], ref, atol=1e-6)
    assert ours["num_images"] == N_IMAGES

    # the same detections scored as if crowd regions were objects and areas were box areas: different
    naive = json.loads(gt_json.read_text())
    naive["annotations"] = [{**a, "iscrowd": 0, "area": a["bbox"][2] * a["bbox"][3]} for a in naive["annotations"]]
    (tmp_path / "naive.json").write_text(json.dumps(naive))
    assert np.abs(pycocotools_stats(tmp_path / "naive.json", dt_json) - ref).max() > 1e-3


def test_coco_json_split_keeps_identity(coco128: Path, tmp_path: Path) -> None:
    gt_json, image_dir, gt = build_export(coco128, tmp_path)
    split = open_split(gt_json, "val", image_dir, log=False)
    listed = {im["file_name"]: im["id"] for im in gt["images"]}
    assert len(split.records) == N_IMAGES
    for rec in split.records:
        assert rec.image_id == listed[str(Path(rec.path).relative_to(image_dir))]
    assert split.category_ids == coco80_to_coco91()  # sorted by id whatever the file's order
    # training labels leave crowd regions out; the evaluator's ground truth keeps them, areas as written
    plain = sum(1 for a in gt["annotations"] if not a["iscrowd"])
    assert sum(len(r.labels) for r in split.records) == plain
    assert split.report.crowd_box == len(gt["annotations"]) - plain
    by_id = {a["id"]: a for a in gt["annotations"]}
    assert len(split.coco_gt["annotations"]) == len(gt["annotations"])
    for a in split.coco_gt["annotations"]:
        assert (a["iscrowd"], a["area"], a["image_id"]) == (by_id[a["id"]]["iscrowd"], by_id[a["id"]]["area"],
                                                           by_id[a["id"]]["image_id"])


def test_gt_dt_refuses_unknown_image_and_category_ids(coco128: Path, tmp_path: Path, capsys) -> None:
    gt_json, _, gt = build_export(coco128, tmp_path)
    iid = gt["images"][0]["id"]
    cases = {
        "category ids": [{"image_id": iid, "category_id": 0, "bbox": [1, 1, 5, 5], "score": 0.9},
                         {"image_id": iid, "category_id": 12, "bbox": [1, 1, 5, 5], "score": 0.8}],
        "image ids": [{"image_id": 42, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9}],
    }
    for what, dts in cases.items():
        dt_json = tmp_path / f"dt_{what[:3]}.json"
        dt_json.write_text(json.dumps(dts))
        assert main(["val", "--gt", str(gt_json), "--dt", str(dt_json)]) != 0
        err = capsys.readouterr().err
        assert what in err and "Traceback" not in err
        bad = sorted({d["category_id" if what == "category ids" else "image_id"] for d in dts})
        assert all(repr(v) in err for v in bad), err  # the offending ids are named


def test_size_mismatch_rescales_to_the_real_image(coco128: Path, yolov5n_pt: Path, tmp_path: Path,
                                                  capsys) -> None:
    """A JSON made for a 2x copy of the images: boxes follow the real files, detections go back to the
    JSON's frame, so the score is the one pycocotools gives on that JSON."""
    pytest.importorskip("pycocotools")
    gt_json, image_dir, gt = build_export(coco128, tmp_path / "x2", scale=2.0)
    ref_json, ref_dir, _ = build_export(coco128, tmp_path / "x1", scale=1.0)
    big, real = open_split(gt_json, "val", image_dir, log=False), open_split(ref_json, "val", ref_dir, log=False)
    assert big.report.size_mismatch == N_IMAGES and big.report.size_refused == 0
    for a, b in zip(big.records, real.records):
        assert (a.width, a.height) == (b.width, b.height)  # the real image's frame
        np.testing.assert_allclose(a.labels, b.labels, atol=2e-3)  # JSON sizes are rounded

    dt_json, m_json = tmp_path / "dt.json", tmp_path / "m.json"
    code = main(["val", "--weights", str(yolov5n_pt), "--data", str(gt_json), "--image-dir", str(image_dir),
                 "--imgsz", "320", "--batch", "8", "--workers", "0", "--save-dt", str(dt_json),
                 "--json", str(m_json)])
    assert code == 0, capsys.readouterr().err
    ours = json.loads(m_json.read_text())
    np.testing.assert_allclose(ours["stats"], pycocotools_stats(gt_json, dt_json), atol=1e-6)
    assert ours["map50_95"] > 0.1


@pytest.mark.slow
def test_size_with_another_aspect_is_refused(coco128: Path, yolov5n_pt: Path, tmp_path: Path, caplog,
                                            capsys) -> None:
    """An image whose file cannot match its boxes is skipped, named, and left out of the ground truth:
    the score equals pycocotools on the JSON without that image."""
    pytest.importorskip("pycocotools")
    gt_json, image_dir, gt = build_export(coco128, tmp_path)
    first = gt["images"][0]
    first["width"], first["height"] = first["height"], first["width"]  # e.g. annotated rotated
    gt_json.write_text(json.dumps(gt))
    split = open_split(gt_json, "val", image_dir)
    assert split.report.size_refused == 1 and len(split.records) == N_IMAGES - 1
    assert first["file_name"] in caplog.text and "aspect ratio" in caplog.text
    assert first["id"] not in {r.image_id for r in split.records}

    caplog.clear()
    dt_json, m_json = tmp_path / "dt.json", tmp_path / "m.json"
    code = main(["val", "--weights", str(yolov5n_pt), "--data", str(gt_json), "--image-dir", str(image_dir),
                 "--imgsz", "320", "--batch", "8", "--workers", "0", "--save-dt", str(dt_json),
                 "--json", str(m_json)])
    assert code == 0, capsys.readouterr().err
    assert "could not be scored" in caplog.text and first["file_name"] in caplog.text
    scored = dict(gt, images=gt["images"][1:],
                  annotations=[a for a in gt["annotations"] if a["image_id"] != first["id"]])
    (tmp_path / "scored.json").write_text(json.dumps(scored))
    ours = json.loads(m_json.read_text())
    assert ours["num_images"] == N_IMAGES - 1
    np.testing.assert_allclose(ours["stats"], pycocotools_stats(tmp_path / "scored.json", dt_json), atol=1e-6)


@pytest.mark.slow
def test_predict_writes_the_json_ids(coco128: Path, yolov5n_pt: Path, tmp_path: Path) -> None:
    """``predict --coco-json`` results are scored by pycocotools against that JSON as they are."""
    pytest.importorskip("pycocotools")
    from yololab.deploy.predict import predict

    gt_json, image_dir, gt = build_export(coco128, tmp_path)
    summary = predict(yolov5n_pt, str(image_dir / "**" / "*.JPG"), imgsz=320, conf=0.001, iou=0.6,
                      out=tmp_path / "pred", save_images=False, threads=1, progress=False,
                      coco_json=gt_json, image_dir=image_dir)
    assert summary.images == N_IMAGES
    dt_json = Path(summary.files["predictions"])
    dts = json.loads(dt_json.read_text())
    assert {d["category_id"] for d in dts} <= set(coco80_to_coco91())
    assert pycocotools_stats(gt_json, dt_json)[0] > 0.1

    with pytest.raises(ValueError, match="not images of"):
        predict(yolov5n_pt, str(coco128 / "images" / "val2017" / "*.jpg"), imgsz=320, out=tmp_path / "p2",
                save_images=False, threads=1, progress=False, coco_json=gt_json, image_dir=image_dir)


def test_compare_on_coco_json_scores_with_the_files_identity(coco128, yolov5n_pt, tmp_path) -> None:
    """compare on COCO JSON data (``train: {image_dir, val_data}`` as for ``yololab train``): each cell is
    scored against the val JSON's own annotations, and its detections carry the JSON's ids. The cell's
    "training" saves upstream's yolov5n.pt as its weights, so the detections are real."""
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import spec_from_mapping
    from yololab.models.checkpoints import load_model, save_model
    from yololab.train.contract import TrainSummary

    def checkpoint_as_trained(cfg, on_epoch_end=None) -> TrainSummary:
        model = load_model(yolov5n_pt)
        for name in ("last.pt", "best.pt"):
            save_model(model, Path(cfg.out) / "weights" / name, epoch=0)
        return TrainSummary(epochs_run=1, train_seconds=0.0, images_per_second=0.0, peak_memory_mb=0.0)

    gt_path, image_dir, gt = build_export(coco128, tmp_path / "export")
    spec = spec_from_mapping({"name": "coco", "data": str(gt_path), "models": ["yolov5n"], "backbones": ["native"],
                              "seeds": [0], "epochs": 1, "imgsz": 64, "eval_imgsz": 320, "batch": 4, "workers": 0,
                              "eval_batch": 8, "train": {"image_dir": str(image_dir), "val_data": str(gt_path)}})
    out = tmp_path / "cmp"
    row = run_compare(spec, out, RunSettings(train_fn=checkpoint_as_trained, bench=False, report=False)).rows[0]
    assert row.done, row.error
    assert row.accuracy.map50_95 > 0.1  # a real model scored against the JSON's annotations
    stats = pycocotools_stats(gt_path, out / row.cell_dir / "detections_val.json")
    assert abs(stats[0] - row.accuracy.map50_95) < 1e-6 and abs(stats[1] - row.accuracy.map50) < 1e-6
    detections = json.loads((out / row.cell_dir / "detections_val.json").read_text())
    assert detections and {d["image_id"] for d in detections} <= {im["id"] for im in gt["images"]}
    assert {d["category_id"] for d in detections} <= {c["id"] for c in gt["categories"]}
    scored = json.loads((out / "scoring" / "gt_val.json").read_text())
    assert sum(a.get("iscrowd", 0) for a in scored["annotations"]) > 0  # the file's crowd regions, kept
    assert set(json.loads((out / "protocol.json").read_text())["data"]["splits"]) == {"train", "val"}
