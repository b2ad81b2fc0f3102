"""Paired image bootstrap of COCO mAP on real coco128 val labels and real yolov5n detections,
checked against pycocotools run directly (never against our own wrapper)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yololab.eval.bootstrap import ImageMatches, bootstrap_map, format_bootstrap, map_many, resample_weights

pytestmark = pytest.mark.slow  # real detections of yolov5n on coco128 val (~20 s, once per module)


@pytest.fixture(scope="module")
def real(coco128, yolov5n_pt, one_thread) -> tuple[dict, list[dict]]:
    """COCO GT of coco128 val (128 images) and yolov5n's detections on it (upstream val settings)."""
    from yololab import load_model
    from yololab.data import load_data_config, load_split
    from yololab.eval.coco import yolo_records_to_coco_gt
    from yololab.eval.validate import ValSettings, validate

    data = coco128 / "data.yaml"
    records, names = load_split(data, "val", cache=False, log=False)[0], load_data_config(data).names
    model = load_model(yolov5n_pt).eval().fuse()
    metrics = validate(model, records, names, ValSettings(batch_size=16, workers=0), progress=False)
    return yolo_records_to_coco_gt(records, names), metrics.detections


def _pycocotools_stats(gt: dict, dt: list[dict]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes([dict(d) for d in dt]), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


@pytest.fixture(scope="module")
def real_stats(real) -> np.ndarray:
    """pycocotools' stats of the real detections (computed once; every test reads them)."""
    return _pycocotools_stats(*real)


@pytest.fixture(scope="module")
def real_matches(real) -> ImageMatches:
    """ImageMatches.from_coco of the real detections (computed once; the tests only read it)."""
    return ImageMatches.from_coco(*real)


def _jitter(dt: list[dict], frac: float, seed: int) -> list[dict]:
    """Boxes moved and resized by ``frac`` of their size (normal, seeded); scores and classes kept."""
    rng = np.random.default_rng(seed)
    out = []
    for d in dt:
        x, y, w, h = d["bbox"]
        dx, dy = rng.normal(0, frac, 2) * (w, h)
        sw, sh = np.exp(rng.normal(0, frac, 2))
        out.append({**d, "bbox": [x + dx + w * (1 - sw) / 2, y + dy + h * (1 - sh) / 2, w * sw, h * sh]})
    return out


def _subset(gt: dict, dt: list[dict], n: int) -> tuple[dict, list[dict]]:
    keep = {im["id"] for im in gt["images"][:n]}
    return ({**gt, "images": gt["images"][:n], "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]},
            [d for d in dt if d["image_id"] in keep])


def _duplicated(gt: dict, dt: list[dict], image_ids: np.ndarray, counts: np.ndarray) -> tuple[dict, list[dict]]:
    """GT and detections with image ``image_ids[i]`` repeated ``counts[i]`` times under new ids; the
    copies of one image get consecutive ids so that COCO visits them together."""
    pos, c_max = {int(i): k for k, i in enumerate(image_ids)}, int(counts.max())

    def copies(image_id: int) -> list[int]:
        return [pos[image_id] * c_max + c + 1 for c in range(counts[pos[image_id]])]

    images = [{**im, "id": new} for im in gt["images"] for new in copies(im["id"])]
    anns = [{**a, "image_id": new} for a in gt["annotations"] for new in copies(a["image_id"])]
    anns = [{**a, "id": k + 1} for k, a in enumerate(anns)]
    dets = [{**d, "image_id": new} for d in dt for new in copies(d["image_id"])]
    return {**gt, "images": images, "annotations": anns}, dets


def test_point_estimate_is_pycocotools_map(real, real_matches, real_stats):
    gt, dt = real
    m = real_matches
    assert m.image_ids.tolist() == sorted(im["id"] for im in gt["images"])
    stats = real_stats
    got = m.map(np.ones((1, m.num_images)))
    assert stats[0] > 0.2  # a real model, not an empty evaluation
    assert abs(got["map50_95"][0] - stats[0]) < 1e-12
    assert abs(got["map50"][0] - stats[1]) < 1e-12


def test_point_estimate_with_crowd_ground_truth(real):
    """Crowd boxes make COCO ignore the detections they match (the dtIgnore path)."""
    gt, dt = real
    anns = [{**a, "iscrowd": int(k % 7 == 0)} for k, a in enumerate(gt["annotations"])]
    gt = {**gt, "annotations": anns}
    m = ImageMatches.from_coco(gt, dt)
    assert m.ignored is not None and m.ignored.nnz > 0
    stats = _pycocotools_stats(gt, dt)
    got = m.map(np.ones((1, m.num_images)))
    assert abs(got["map50_95"][0] - stats[0]) < 1e-12
    assert abs(got["map50"][0] - stats[1]) < 1e-12
    w = resample_weights(m.num_images, 1, seed=3)
    stats = _pycocotools_stats(*_duplicated(gt, _distinct_scores(dt), m.image_ids, w[0]))
    distinct = ImageMatches.from_coco(gt, _distinct_scores(dt))
    got = distinct.map(w)
    assert abs(got["map50_95"][0] - stats[0]) < 1e-12
    np.testing.assert_array_equal(distinct.map(w, max_bytes=1)["map50_95"], got["map50_95"])  # one category a chunk


def _distinct_scores(dt: list[dict]) -> list[dict]:
    """The same detections with every score made unique (so COCO's tie order cannot matter)."""
    return [{**d, "score": d["score"] + 1e-9 * k} for k, d in enumerate(dt)]


def test_weights_equal_duplicated_images(real, real_matches, real_stats):
    """The independent check of the weighting: pycocotools on the images of one resample really
    duplicated.  Exact (1e-12) with distinct scores; with the real (5-decimal) scores, two tied
    detections of one image and category may be ordered differently than COCO orders the copies,
    which moves mAP by well under 1e-5."""
    gt, dt = real
    m = real_matches
    w = resample_weights(m.num_images, 1, seed=1)
    assert w.sum() == m.num_images and (w == 0).any() and (w > 1).any()
    stats = _pycocotools_stats(*_duplicated(gt, dt, m.image_ids, w[0]))
    got = m.map(w)
    assert abs(got["map50_95"][0] - stats[0]) < 1e-5
    assert abs(got["map50"][0] - stats[1]) < 1e-5
    assert abs(got["map50_95"][0] - real_stats[0]) > 1e-3  # the resample does change mAP

    dt = _distinct_scores(dt)
    stats = _pycocotools_stats(*_duplicated(gt, dt, m.image_ids, w[0]))
    got = ImageMatches.from_coco(gt, dt).map(w)
    assert abs(got["map50_95"][0] - stats[0]) < 1e-12
    assert abs(got["map50"][0] - stats[1]) < 1e-12


def test_self_comparison_is_null(real):
    gt, dt = real
    r = bootstrap_map(gt, dt, dt_ref=dt, n=200, seed=0)
    assert r["delta_map50_95"] == 0.0 and r["delta_map50"] == 0.0
    assert r["delta_map50_95_ci95"] == [0.0, 0.0] and r["delta_map50_ci95"] == [0.0, 0.0]
    assert r["p_value"] == 1.0 and r["p_value_map50"] == 1.0
    assert r["map50_95"] == r["map50_95_ref"]
    assert (r["bootstrap"], r["images"], r["seed"]) == (200, 128, 0)


def test_jittered_boxes_are_significantly_worse(real, tmp_path):
    gt, dt = real
    worse = _jitter(dt, 0.2, seed=0)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "a.json").write_text(json.dumps(worse))
    (tmp_path / "b.json").write_text(json.dumps(dt))
    r = bootstrap_map(tmp_path / "gt.json", tmp_path / "a.json", tmp_path / "b.json", n=500, seed=1)
    assert r["delta_map50_95"] < 0
    assert r["delta_map50_95_ci95"][1] < 0 and r["p_value"] < 0.01
    lo, hi = r["delta_map50_95_ci95"]
    assert lo <= r["delta_map50_95"] <= hi
    assert abs(r["map50_95"] - _pycocotools_stats(gt, worse)[0]) < 1e-12
    text = format_bootstrap(r)
    assert "vs ref" in text and f"{r['delta_map50_95']:+.4f}" in text


def test_ci_contains_estimate_and_widens_with_fewer_images(real):
    gt, dt = real
    full = bootstrap_map(gt, dt, n=400, seed=0)
    small = bootstrap_map(*_subset(gt, dt, 32), n=400, seed=0)
    for r in (full, small):
        for key in ("map50_95", "map50"):
            lo, hi = r[f"{key}_ci95"]
            assert lo < r[key] < hi
    assert small["images"] == 32 and full["images"] == 128
    width = {k: r["map50_95_ci95"][1] - r["map50_95_ci95"][0] for k, r in (("full", full), ("small", small))}
    assert width["small"] > 1.3 * width["full"]
    assert "[" in format_bootstrap(full) and "vs ref" not in format_bootstrap(full)


def test_map_many_pairs_files_on_one_weight_matrix(real, real_matches):
    gt, dt = real
    a, b = real_matches, ImageMatches.from_coco(gt, _jitter(dt, 0.2, seed=0))
    w = resample_weights(a.num_images, 7, seed=5)
    both = map_many([a, b], w)
    assert both["map50_95"].shape == (2, 7)
    np.testing.assert_array_equal(both["map50_95"][1], b.map(w)["map50_95"])
    np.testing.assert_array_equal(a.map(w, max_bytes=1)["map50"], both["map50"][0])  # chunking is invisible
    other = ImageMatches.from_coco(*_subset(gt, dt, 32))
    with pytest.raises(ValueError, match="same ground truth"):
        map_many([a, other], w)
    with pytest.raises(ValueError, match=r"\(B, 128\)"):
        a.map(np.ones((2, 5)))


def test_resample_weights_are_seeded_counts():
    w = resample_weights(50, 20, seed=4)
    assert w.shape == (20, 50) and (w.sum(1) == 50).all()
    np.testing.assert_array_equal(w, resample_weights(50, 20, seed=4))
    assert not np.array_equal(w, resample_weights(50, 20, seed=5))


def test_invalid_and_empty_detections(real):
    gt, dt = real
    with pytest.raises(ValueError, match="image ids are not in the ground truth, e.g. \\[999999\\]"):
        bootstrap_map(gt, dt[:5] + [{**dt[0], "image_id": 999999}], n=10)
    with pytest.raises(ValueError, match="category ids are not in the ground truth categories, e.g. \\[4242\\]"):
        ImageMatches.from_coco(gt, dt[:5] + [{**dt[0], "category_id": 4242}])
    r = bootstrap_map(gt, [], dt_ref=dt, n=50)
    assert r["map50_95"] == 0.0 and r["map50_95_ref"] > 0.2
    assert r["delta_map50_95_ci95"][1] < 0
    r = bootstrap_map(gt, [], n=50)
    assert r["map50_95_ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="no \\(non-crowd\\) annotations"):
        bootstrap_map({**gt, "annotations": []}, dt, n=10)


def test_recall_threshold_count_is_searchsorted():
    """The fast threshold count equals numpy's searchsorted, on recalls that hit thresholds exactly."""
    gt = {"images": [{"id": 1, "width": 10, "height": 10}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 0}]}
    m = ImageMatches.from_coco(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}])
    assert abs(m.map(np.ones((1, 1)))["map50_95"][0] - 1.0) < 1e-12  # COCO: precision 1 / (1 + eps)
    npig = np.arange(1, 400)[:, None]
    rc = (np.arange(400)[None, :] / npig).ravel()  # every k / n, so many equal i / 100 exactly or nearly
    rc = np.concatenate([rc, m.rec_thresholds, np.nextafter(m.rec_thresholds, 2), np.nextafter(m.rec_thresholds, -1),
                         [-1.0, 0.0, 1.0, 5.0]])
    np.testing.assert_array_equal(m._thresholds_reached(rc), np.searchsorted(m.rec_thresholds, rc, side="right"))


def test_pair_matched_in_a_second_process_equals_one_after_the_other(real, real_matches, monkeypatch):
    """match_pair forks a process for the reference file on two cores: same matches as sequential."""
    from yololab.eval import bootstrap as bs

    gt, dt = real
    ref = _jitter(dt, 0.2, seed=1)
    sequential = bs.map_many([real_matches, bs.ImageMatches.from_coco(gt, ref)],
                             bs.resample_weights(len(gt["images"]), 50, seed=4))
    monkeypatch.setattr(bs, "PARALLEL_MIN_DETECTIONS", 0)
    monkeypatch.setattr(bs.os, "cpu_count", lambda: 2)
    pair = bs.match_pair(gt, dt, ref)
    parallel = bs.map_many(list(pair), bs.resample_weights(len(gt["images"]), 50, seed=4))
    for key in ("map50_95", "map50"):
        assert np.array_equal(sequential[key], parallel[key])
    assert bs._PENDING is None


def test_saved_matches_reweight_exactly(real_matches, tmp_path):
    """ImageMatches.save/load round-trips every array: the same mAP under any weights, no pickle."""
    matches = real_matches
    matches.save(tmp_path / "m.npz")
    again = ImageMatches.load(tmp_path / "m.npz")
    w = resample_weights(matches.num_images, 20, 3)
    for key in ("map50_95", "map50"):
        assert np.array_equal(matches.map(w)[key], again.map(w)[key])
