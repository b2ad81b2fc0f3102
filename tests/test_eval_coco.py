"""COCO evaluation: faster-coco-eval wrapper vs pycocotools on real coco128 val labels."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from yololab.eval.coco import (
    STAT_KEYS,
    coco80_to_coco91,
    detections_to_coco,
    evaluate_coco,
    evaluate_files,
    image_ids,
    yolo_records_to_coco_gt,
)


def _load_records(root: Path) -> tuple[list[SimpleNamespace], list[str]]:
    from PIL import Image  # header-only read of the true image size

    names_map = yaml.safe_load((root / "data.yaml").read_text())["names"]
    names = [names_map[i] for i in range(len(names_map))] if isinstance(names_map, dict) else list(names_map)
    records = []
    for img in sorted((root / "images" / "val2017").glob("*.jpg")):
        lb_file = root / "labels" / "val2017" / f"{img.stem}.txt"
        labels = np.loadtxt(lb_file, ndmin=2, dtype=np.float64) if lb_file.exists() else np.zeros((0, 5))
        with Image.open(img) as im:
            w, h = im.size
        records.append(SimpleNamespace(path=str(img), width=w, height=h, labels=labels.reshape(-1, 5)))
    return records, names


@pytest.fixture(scope="module")
def coco128_val(coco128):
    """(records, names) of the real coco128 val2017 split (conftest's ``coco128``: ../shared)."""
    records, names = _load_records(coco128)
    assert len(records) == 128 and len(names) == 80
    return records, names


def _fake_detections(gt: dict, seed: int, per_image: int | None = None) -> list[dict]:
    """Jittered GT boxes with random scores, some dropped, some re-classed, plus false positives."""
    rng = np.random.default_rng(seed)
    cat_ids = [c["id"] for c in gt["categories"]]
    by_img: dict[int, list[dict]] = {im["id"]: [] for im in gt["images"]}
    for a in gt["annotations"]:
        by_img[a["image_id"]].append(a)
    dets = []
    for im in gt["images"]:
        W, H = im["width"], im["height"]
        rows = []
        for a in by_img[im["id"]]:
            if rng.random() < 0.15:  # missed
                continue
            x, y, w, h = a["bbox"]
            for _ in range(1 + int(rng.random() < 0.2)):  # occasional duplicate
                jx, jy, jw, jh = rng.normal(0, 0.07, 4)
                cx, cy = x + w / 2 + jx * w, y + h / 2 + jy * h
                nw, nh = w * np.exp(jw), h * np.exp(jh)
                cat = a["category_id"] if rng.random() > 0.05 else int(rng.choice(cat_ids))
                rows.append([cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2, rng.random(), cat])
        n_fp = int(rng.integers(0, 6)) if per_image is None else max(per_image - len(rows), 0)
        for _ in range(n_fp):  # false positives anywhere, any size
            bw, bh = rng.uniform(2, W / 2), rng.uniform(2, H / 2)
            x1, y1 = rng.uniform(0, W - bw), rng.uniform(0, H - bh)
            rows.append([x1, y1, x1 + bw, y1 + bh, rng.random() * 0.5, int(rng.choice(cat_ids))])
        arr = np.array(rows, dtype=np.float32).reshape(-1, 6)
        if per_image is not None:
            arr = arr[np.argsort(-arr[:, 4], kind="stable")[:per_image]]
        dets += detections_to_coco(im["id"], arr)
    return dets


def _pycocotools_eval(gt_path: Path, dt_path: Path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_path))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(dt_path)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.slow
@pytest.mark.parametrize("category_map", [None, coco80_to_coco91()], ids=["yolo_ids", "coco91_ids"])
def test_evaluate_files_matches_pycocotools(coco128_val, tmp_path, category_map):
    records, names = coco128_val
    gt = yolo_records_to_coco_gt(records, names, category_map=category_map)
    assert len(gt["images"]) == 128
    assert len(gt["annotations"]) == sum(len(r.labels) for r in records)
    dets = _fake_detections(gt, seed=0)
    gt_path, dt_path = tmp_path / "instances.json", tmp_path / "results.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(dets))

    res = evaluate_files(gt_path, dt_path)
    ref = _pycocotools_eval(gt_path, dt_path)

    np.testing.assert_allclose(res["stats"], ref.stats[:12], rtol=0, atol=1e-6)
    assert 0.2 < res["map50_95"] < 0.95  # a meaningful, non-degenerate score
    for key, ref_v in zip(STAT_KEYS, ref.stats):
        assert res[key] == pytest.approx(max(ref_v, 0.0), abs=1e-6)
    assert res["num_images"] == 128 and res["num_detections"] == len(dets)

    # per-class AP from pycocotools' precision array (area=all, maxDets=100), classes with GT only
    prec = ref.eval["precision"][:, :, :, 0, -1]
    with_gt = {a["category_id"] for a in gt["annotations"]}
    expected = {}
    for k, cid in enumerate(ref.params.catIds):
        if cid in with_gt:
            p = prec[:, :, k]
            expected[gt_names(gt)[cid]] = (p[p > -1].mean(), p[0][p[0] > -1].mean())
    assert set(res["per_class"]) == set(expected)
    for name, (ap, ap50) in expected.items():
        assert res["per_class"][name]["ap50_95"] == pytest.approx(ap, abs=1e-6)
        assert res["per_class"][name]["ap50"] == pytest.approx(ap50, abs=1e-6)
    counts = {}
    for a in gt["annotations"]:
        counts[gt_names(gt)[a["category_id"]]] = counts.get(gt_names(gt)[a["category_id"]], 0) + 1
    assert {n: v["instances"] for n, v in res["per_class"].items()} == counts


def gt_names(gt: dict) -> dict[int, str]:
    return {c["id"]: c["name"] for c in gt["categories"]}


def test_gt_conversion(coco128_val):
    records, names = coco128_val
    gt = yolo_records_to_coco_gt(records, names)
    assert [im["id"] for im in gt["images"]] == [int(Path(r.path).stem) for r in records]
    assert [c["id"] for c in gt["categories"]] == list(range(80))
    r = next(r for r in records if len(r.labels))
    a = next(a for a in gt["annotations"] if a["image_id"] == int(Path(r.path).stem))
    cls, cx, cy, w, h = r.labels[0]
    assert a["category_id"] == int(cls) and a["iscrowd"] == 0
    np.testing.assert_allclose(
        a["bbox"], [(cx - w / 2) * r.width, (cy - h / 2) * r.height, w * r.width, h * r.height], rtol=1e-12
    )
    assert a["area"] == pytest.approx(w * r.width * h * r.height)
    assert min(a["id"] for a in gt["annotations"]) == 1


def test_speed_128_images_300_dets(coco128_val):
    records, names = coco128_val
    gt = yolo_records_to_coco_gt(records, names)
    dets = _fake_detections(gt, seed=1, per_image=300)
    assert len(dets) == 128 * 300
    t = time.perf_counter()
    res = evaluate_coco(gt, dets)
    elapsed = time.perf_counter() - t
    assert res["num_detections"] == 128 * 300 and res["map50_95"] > 0.1
    assert elapsed < 2.0, f"evaluate_coco took {elapsed:.2f}s for 128 x 300 detections"


def _tiny_gt() -> dict:
    recs = [
        SimpleNamespace(path="a/img1.jpg", width=100, height=50, labels=np.array([[0, 0.5, 0.5, 0.2, 0.4]])),
        SimpleNamespace(path="a/img2.jpg", width=80, height=80, labels=np.zeros((0, 5))),
    ]
    return yolo_records_to_coco_gt(recs, ["cat", "dog", "bird"])


def test_non_numeric_stems_use_positions():
    assert image_ids(["x/a.jpg", "x/b.jpg"]) == [1, 2]
    assert image_ids(["x/0001.jpg", "x/0002.png"]) == [1, 2]
    assert image_ids(["x/12.jpg", "y/012.jpg"]) == [1, 2]  # numeric but colliding
    assert image_ids(["x/139.jpg", "x/285.jpg"]) == [139, 285]


def test_empty_detections_give_zeros():
    res = evaluate_coco(_tiny_gt(), [])
    assert all(res[k] == 0.0 for k in STAT_KEYS)
    assert res["per_class"] == {"cat": {"ap50_95": 0.0, "ap50": 0.0, "instances": 1}}
    assert res["num_images"] == 2 and res["num_detections"] == 0


def test_perfect_detection_and_class_without_gt_excluded():
    gt = _tiny_gt()
    # exact box for "cat" plus a detection of "dog" (no GT dog anywhere): dog must not appear
    dets = detections_to_coco(1, np.array([[40.0, 15.0, 60.0, 35.0, 0.9, 0], [0, 0, 10, 10, 0.8, 1]]))
    assert dets[0]["bbox"] == [40.0, 15.0, 20.0, 20.0] and dets[0]["category_id"] == 0
    res = evaluate_coco(gt, dets, names={0: "Cat", 1: "Dog", 2: "Bird"})
    assert res["map50_95"] == pytest.approx(1.0) and res["map50"] == pytest.approx(1.0)
    assert set(res["per_class"]) == {"Cat"}
    assert res["per_class"]["Cat"]["ap50_95"] == pytest.approx(1.0)


def test_detections_image_ids_must_exist():
    with pytest.raises(ValueError):
        evaluate_coco(_tiny_gt(), detections_to_coco(999, np.array([[0, 0, 1, 1, 0.5, 0]])))


def test_detections_to_coco_torch_and_category_map():
    import torch

    d = torch.tensor([[10.25, 20.5, 30.75, 60.0, 0.123456789, 2.0]])
    (r,) = detections_to_coco(7, d, category_map=coco80_to_coco91())
    assert r == {"image_id": 7, "category_id": 3, "bbox": [10.25, 20.5, 20.5, 39.5], "score": 0.12346}
    assert detections_to_coco(7, torch.zeros((0, 6))) == []


def test_pycocotools_fallback(monkeypatch):
    """Without faster-coco-eval the same module runs on pycocotools and gives the same numbers."""
    import importlib.util
    import sys

    import yololab.eval.coco as fast

    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)  # makes `import faster_coco_eval` fail
    spec = importlib.util.spec_from_file_location("_coco_fallback", fast.__file__)
    slow = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slow)
    assert slow.BACKEND == "pycocotools" and fast.BACKEND == "faster_coco_eval"
    gt = _tiny_gt()
    dets = detections_to_coco(1, np.array([[41.0, 15.0, 60.0, 36.0, 0.9, 0], [0, 0, 10, 10, 0.8, 0]]))
    a, b = fast.evaluate_coco(gt, dets), slow.evaluate_coco(gt, dets)
    np.testing.assert_allclose(a["stats"], b["stats"], atol=1e-12)
    assert a["per_class"].keys() == b["per_class"].keys() == {"cat"}
    for k in ("ap50_95", "ap50", "instances"):
        assert a["per_class"]["cat"][k] == pytest.approx(b["per_class"]["cat"][k], abs=1e-12)
    assert slow.evaluate_coco(gt, [])["map50_95"] == 0.0
