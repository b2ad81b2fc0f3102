"""Error analysis (yololab.eval.analysis): hand-built cases with known answers, and a real-data smoke test."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from yololab.eval.analysis import analyze, confusion_matrix, pr_curves, tide_errors, voc_ap
from yololab.eval.analysis._index import index
from yololab.eval.coco import evaluate_coco

CAT, DOG = 3, 17  # category ids with gaps


def _gt(anns: list[tuple], image_ids=(7, 42), cats=((CAT, "cat"), (DOG, "dog"))) -> dict:
    """COCO GT from (image_id, category_id, ltwh box, iscrowd[, difficult]) tuples."""
    annotations = []
    for n, (img, c, box, crowd, *diff) in enumerate(anns):
        a = {"id": n + 1, "image_id": img, "category_id": c, "bbox": list(box), "area": box[2] * box[3],
             "iscrowd": crowd}
        if diff:
            a["difficult"] = diff[0]
        annotations.append(a)
    return {"images": [{"id": i, "width": 1000, "height": 1000} for i in image_ids],
            "annotations": annotations, "categories": [{"id": c, "name": n} for c, n in cats]}


def _dt(dets: list[tuple]) -> list[dict]:
    return [{"image_id": i, "category_id": c, "score": s, "bbox": list(b)} for i, c, s, b in dets]


# One error of each TIDE kind; every error outranks some true positive of its class so that it costs AP.
TIDE_GT = [
    (7, CAT, (0, 0, 100, 100), 0),  # G1: TP 0.5, duplicate 0.4
    (7, CAT, (200, 0, 100, 100), 0),  # G2: TP 0.3; a dog box overlaps it at IoU 1/3 ("both")
    (7, DOG, (400, 0, 100, 100), 0),  # G3: found only as "cat" (classification)
    (7, DOG, (0, 400, 100, 100), 0),  # G4: found only at IoU 1/3 (localisation)
    (7, CAT, (600, 0, 100, 100), 0),  # G5: missed
    (7, CAT, (0, 700, 200, 200), 1),  # crowd region
    (42, DOG, (0, 0, 50, 50), 0),  # G6: TP 0.2
]
TIDE_DT = {
    "tp1": (7, CAT, 0.5, (0, 0, 100, 100)),
    "dupe": (7, CAT, 0.4, (0, 0, 100, 98)),
    "tp2": (7, CAT, 0.3, (200, 0, 100, 100)),
    "both": (7, DOG, 0.6, (250, 0, 100, 100)),
    "cls": (7, CAT, 0.8, (400, 0, 100, 100)),
    "loc": (7, DOG, 0.7, (50, 400, 100, 100)),
    "bkg": (7, DOG, 0.95, (800, 800, 50, 50)),
    "crowd": (7, CAT, 0.85, (10, 710, 50, 50)),  # inside the crowd region: neither TP nor error
    "tp6": (42, DOG, 0.2, (0, 0, 50, 50)),
}
KINDS = ("cls", "loc", "both", "dupe", "bkg", "miss")


def test_tide_one_error_of_each_kind():
    res = tide_errors(_gt(TIDE_GT), _dt(list(TIDE_DT.values())))
    assert res["counts"] == {k: 1 for k in KINDS}
    assert all(res["dap"][k] > 0 for k in KINDS), res["dap"]
    coco = evaluate_coco(_gt(TIDE_GT), _dt(list(TIDE_DT.values())))
    assert res["ap50"] == pytest.approx(100 * coco["map50"], abs=1e-9)  # the baseline is COCO's AP50


@pytest.mark.parametrize("kind", KINDS)
def test_tide_absent_kind_costs_nothing(kind):
    dets = dict(TIDE_DT)
    if kind == "miss":
        dets["found"] = (7, CAT, 0.1, (600, 0, 100, 100))
    else:
        del dets[kind]
    res = tide_errors(_gt(TIDE_GT), _dt(list(dets.values())))
    # without its classification / localisation error, that GT is simply missed
    expected = {k: 0 if k == kind else 2 if k == "miss" and kind in ("cls", "loc") else 1 for k in KINDS}
    assert res["counts"] == expected
    assert res["dap"][kind] == 0.0 and all(res["dap"][k] > 0 for k in KINDS if k != kind), res


def test_tide_classification_fix_makes_the_gt_found():
    """Only error: a dog labelled cat.  Fixing it gives dog AP 1 (cat has no GT: not averaged)."""
    gt = _gt([(7, DOG, (0, 0, 100, 100), 0)])
    res = tide_errors(gt, _dt([(7, CAT, 0.9, (0, 0, 100, 100))]))
    assert res["ap50"] == 0.0 and res["dap"]["cls"] == pytest.approx(100.0)
    assert res["counts"] == {"cls": 1, "loc": 0, "both": 0, "dupe": 0, "bkg": 0, "miss": 0}


def test_tide_one_gt_is_credited_to_one_error():
    """A dog found as "cat" (0.9) and as a loose dog box (0.8): the higher-scoring classification error
    owns the GT, so fixing localisation only removes the loose box (as tidecv)."""
    gt = _gt([(7, DOG, (0, 0, 100, 100), 0), (42, DOG, (0, 0, 100, 100), 0)])
    dt = _dt([(7, CAT, 0.9, (0, 0, 100, 100)), (7, DOG, 0.8, (50, 0, 100, 100)), (42, DOG, 0.5, (0, 0, 100, 100))])
    res = tide_errors(gt, dt)
    base = 51 * 0.5 / 101  # dog: FP then TP of 2 GT -> precision 1/2 up to recall 1/2
    assert res["ap50"] == pytest.approx(100 * base)
    # relabelled: TP 0.9, the loose box still a FP at 0.8, TP 0.5 -> precision 1 to recall 1/2, then 2/3
    assert res["dap"]["cls"] == pytest.approx(100 * ((51 + 50 * 2 / 3) / 101 - base))
    assert res["dap"]["loc"] == pytest.approx(100 * (51 / 101 - base))  # only the FP removed


def test_confusion_matrix_counts():
    gt = _gt([
        (7, CAT, (0, 0, 100, 100), 0),  # found as cat
        (7, DOG, (200, 0, 100, 100), 0),  # found as cat
        (42, CAT, (0, 0, 100, 100), 0),  # only a detection below conf: missed
        (42, CAT, (500, 500, 200, 200), 1),  # crowd: never counted
    ])
    dt = _dt([
        (7, CAT, 0.9, (0, 0, 100, 100)), (7, CAT, 0.8, (205, 0, 100, 100)),
        (7, DOG, 0.7, (800, 800, 50, 50)),  # background
        (42, CAT, 0.1, (0, 0, 100, 100)),  # below conf 0.25
        (42, CAT, 0.9, (550, 550, 50, 50)),  # inside the crowd region
    ])
    cm = confusion_matrix(index(gt, dt), conf=0.25, iou_thr=0.45)
    assert cm.labels == ["cat", "dog", "background"]
    # rows = true (cat, dog, background), columns = predicted
    np.testing.assert_array_equal(cm.counts, [[1, 0, 1], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(cm.normalised(), [[0.5, 0, 0.5], [1, 0, 0], [0, 1, 0]])


def _one_class_case(extra_gt=(), extra_dt=()):
    """4 cat GT; detections 0.9 TP, 0.8 FP, 0.7 TP, 0.6 TP (the 4th GT missed)."""
    gt = _gt([(7, CAT, (100 * k, 0, 50, 50), 0) for k in range(4)] + list(extra_gt), cats=((CAT, "cat"),))
    dt = _dt([(7, CAT, 0.9, (0, 0, 50, 50)), (7, CAT, 0.8, (900, 900, 50, 50)),
              (7, CAT, 0.7, (100, 0, 50, 50)), (7, CAT, 0.6, (200, 0, 50, 50))] + list(extra_dt))
    return gt, dt


def test_pr_and_f1_curves():
    gt, dt = _one_class_case()
    curves = pr_curves(index(gt, dt), conf=np.array([0.55, 0.65, 0.75, 0.85, 0.95]))
    np.testing.assert_allclose(curves.p_conf["cat"], [3 / 4, 2 / 3, 1 / 2, 1, 0])
    np.testing.assert_allclose(curves.r_conf["cat"], [3 / 4, 1 / 2, 1 / 4, 1 / 4, 0])
    np.testing.assert_allclose(curves.f1_conf["cat"], [3 / 4, 4 / 7, 1 / 3, 2 / 5, 0])
    assert curves.best() == (0.55, pytest.approx(0.75))
    # envelope: precision 1 up to recall 1/4, 3/4 up to recall 3/4, then nothing
    p = dict(zip(np.round(curves.recall, 2), curves.precision["cat"]))
    assert (p[0.0], p[0.25], p[0.26], p[0.75], p[0.76], p[1.0]) == (1, 1, 0.75, 0.75, 0, 0)
    assert curves.ap50["cat"] == pytest.approx((26 + 50 * 0.75) / 101)
    assert curves.ap50["cat"] == pytest.approx(evaluate_coco(gt, dt)["map50"])


def test_best_threshold_on_the_default_grid_is_the_highest_of_the_plateau():
    gt, dt = _one_class_case()
    conf, f1 = pr_curves(index(gt, dt)).best()
    assert conf == pytest.approx(0.6) and f1 == pytest.approx(0.75)


def test_voc_ap_hand_computed():
    gt, dt = _one_class_case()
    # 11-point: max precision 1 at recall >= 0, .1, .2; 3/4 at .3 ... .7; 0 at .8, .9, 1
    assert voc_ap(gt, dt, "voc07")["map"] == pytest.approx((3 + 5 * 0.75) / 11)
    # all points: 1 x 1/4 + 3/4 x (3/4 - 1/4)
    assert voc_ap(gt, dt, "voc12")["per_class"] == {"cat": pytest.approx(0.625)}


def test_voc_ap_ignores_difficult_and_crowd():
    extra_gt = [(7, CAT, (400, 400, 50, 50), 0, 1),  # difficult, detected first
                (7, CAT, (600, 600, 50, 50), 0, 1),  # difficult, never detected
                (7, CAT, (0, 800, 100, 100), 1)]  # crowd, detected
    extra_dt = [(7, CAT, 0.99, (400, 400, 50, 50)), (7, CAT, 0.98, (10, 810, 50, 50))]
    gt, dt = _one_class_case(extra_gt, extra_dt)
    assert voc_ap(gt, dt, "voc12")["map"] == pytest.approx(0.625)
    assert voc_ap(gt, dt, "voc07")["map"] == pytest.approx((3 + 5 * 0.75) / 11)
    with pytest.raises(ValueError, match="voc07"):
        voc_ap(gt, dt, "voc10")


def test_analyze_writes_every_file(tmp_path):
    gt, dt = _gt(TIDE_GT), _dt(list(TIDE_DT.values()))
    s = analyze(gt, dt, tmp_path, names={CAT: "kitty"})
    expected = ["confusion_matrix.csv", "confusion_matrix.png", "confusion_matrix_normalised.png", "pr_curve.png",
                "pr_curve.json", "f1_curve.png", "f1_curve.csv", "errors.json", "errors.png"]
    assert all((tmp_path / f).stat().st_size > 0 for f in expected)
    rows = list(csv.reader(open(tmp_path / "confusion_matrix.csv")))
    assert rows[0] == ["true \\ predicted", "kitty", "dog", "background"]
    assert json.loads((tmp_path / "errors.json").read_text())["dap"] == s["errors"]
    assert s["map50"] == pytest.approx(evaluate_coco(gt, dt)["map50"])


def test_analyze_groups_the_files_once_and_matches_the_separate_analyses(tmp_path, monkeypatch):
    from yololab.eval.analysis import _index

    gt, dt = _gt(TIDE_GT), _dt(list(TIDE_DT.values()))
    expected = (tide_errors(gt, dt), voc_ap(gt, dt, "voc07")["map"], voc_ap(gt, dt, "voc12")["map"])
    calls = []
    grouped = _index._group
    monkeypatch.setattr(_index, "_group", lambda *a: calls.append(1) or grouped(*a))
    s = analyze(gt, dt, tmp_path)
    assert len(calls) == 1
    assert (s["tide_ap50"], s["errors"], s["error_counts"]) == (expected[0]["ap50"], expected[0]["dap"],
                                                                 expected[0]["counts"])
    assert (s["voc07_map"], s["voc12_map"]) == expected[1:]


def test_top_detections_keeps_cocoevals_top_per_image_and_category():
    rng = np.random.default_rng(0)
    dets = [(int(i), int(c), float(rng.random()), (float(rng.integers(0, 900)), 0.0, 50.0, 50.0))
            for i, c in zip(rng.choice([7, 42], 60), rng.choice([CAT, DOG], 60))]
    dets += [(7, CAT, 0.5, (1, 1, 9, 9))] * 3  # ties keep file order
    gt, dt = _gt(TIDE_GT), _dt(dets)
    every = index(gt, dt, max_dets=None)
    for k in (1, 5, 100):
        top = every.top_detections(k)
        for i, im in top.images.items():
            ranked = sorted((d for d in dt if d["image_id"] == i), key=lambda d: -d["score"])  # stable, as COCOeval
            kept = [d for n, d in enumerate(ranked)
                    if sum(e["category_id"] == d["category_id"] for e in ranked[:n + 1]) <= k]
            assert im.dt_scores.tolist() == [d["score"] for d in kept]
            assert im.dt_cls.tolist() == [d["category_id"] for d in kept]
            assert im.dt_boxes.tolist() == [d["bbox"] for d in kept]
        assert index(gt, dt, max_dets=k).images.keys() == top.images.keys()


def test_compare_plots(tmp_path):
    from yololab.eval.analysis import plot_errors_side_by_side, plot_pr_overlay

    gt, dt = _one_class_case()
    curves = pr_curves(index(gt, dt))
    saved = json.loads(json.dumps(curves.to_json()))
    assert plot_pr_overlay({"a": curves, "b": saved}, tmp_path / "pr.png").stat().st_size > 0
    errs = {"a": tide_errors(gt, dt), "b": {"cls": 1.0, "miss": 2.0}}
    assert plot_errors_side_by_side(errs, tmp_path / "e.png").stat().st_size > 0


def test_rejects_unknown_ids():
    gt, dt = _one_class_case()
    with pytest.raises(ValueError, match="image ids"):
        tide_errors(gt, dt + _dt([(999, CAT, 0.5, (0, 0, 1, 1))]))
    with pytest.raises(ValueError, match="category ids"):
        tide_errors(gt, dt + _dt([(7, 55, 0.5, (0, 0, 1, 1))]))


@pytest.mark.slow
def test_real_yolov5n_on_coco128_mini(coco128_mini, yolov5n_pt, one_thread, tmp_path):
    import yololab
    from yololab.data import load_data_config, load_split
    from yololab.eval.coco import yolo_records_to_coco_gt
    from yololab.eval.validate import ValSettings, validate

    records, names = load_split(coco128_mini, "val", log=False)[0], load_data_config(coco128_mini).names
    model = yololab.load_model(yolov5n_pt).fuse()
    result = validate(model, records, names, ValSettings(image_size=320, batch_size=8, workers=0), progress=False)
    gt = yolo_records_to_coco_gt(records, names)
    s = analyze(gt, result.detections, tmp_path)
    assert all(tmp_path.joinpath(f).is_file() for f in ("confusion_matrix.png", "pr_curve.png", "errors.png"))
    assert 0 < s["best_conf"] < 1 and 0 < s["best_f1"] <= 1
    assert s["map50"] == pytest.approx(result.metrics.map50, abs=1e-6)  # the PR curves are COCO's
    assert s["tide_ap50"] == pytest.approx(100 * result.metrics.map50, abs=1e-4)
    assert all(v >= 0 for v in s["errors"].values()) and s["errors"]["miss"] + s["errors"]["bkg"] > 0
    assert 0 < s["voc07_map"] <= 1 and 0 < s["voc12_map"] <= 1
