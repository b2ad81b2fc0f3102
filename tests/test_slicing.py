"""Sliced inference: SAHI's slice grid, the three merges, settings checks, and the oracle: a detector that
returns the ground truth clipped to each slice scores AP 1.0 after merging, seams and all."""

from __future__ import annotations

import numpy as np
import pytest

from yololab.data.synthetic import draw_large_canvas, make_large_synthetic_dataset
from yololab.errors import UserError
from yololab.eval.coco import evaluate_coco
from yololab.eval.sliced import predict_sliced, slice_detections
from yololab.eval.slicing import SliceSettings, merge_detections, pairwise, slice_grid


def test_grid_covers_the_image_and_the_last_slice_is_flush():
    grid = slice_grid(1000, 1300, 512, 0.2)
    step = 512 - int(0.2 * 512)
    xs, ys = sorted(set(grid[:, 0].tolist())), sorted(set(grid[:, 1].tolist()))
    assert step == 410 and xs == [0, 410, 1300 - 512] and ys == [0, 410, 1000 - 512]
    assert (grid[:, 2] - grid[:, 0] == 512).all() and (grid[:, 3] - grid[:, 1] == 512).all()
    covered = np.zeros((1000, 1300), bool)
    for x0, y0, x1, y1 in grid:
        covered[y0:y1, x0:x1] = True
    assert covered.all()


def test_slice_larger_than_the_image_is_one_slice():
    assert slice_grid(300, 200, 512, 0.2).tolist() == [[0, 0, 200, 300]]
    # and one slice means no extra whole-image pass
    calls = []
    image = np.zeros((300, 200, 3), np.uint8)
    slice_detections(image, lambda crops: calls.append(len(crops)) or [np.zeros((0, 6))] * len(crops),
                     SliceSettings(512, full_pass=True))
    assert calls == [1]


def test_slices_run_as_batches_and_the_full_pass_is_extra():
    image = np.zeros((1000, 1000, 3), np.uint8)
    sizes = []
    slice_detections(image, lambda crops: sizes.append([c.shape[:2] for c in crops]) or [np.zeros((0, 6))] * len(crops),
                     SliceSettings(400, overlap=0.25, full_pass=True), batch=4)
    assert [len(s) for s in sizes] == [4, 4, 1, 1]  # 3 x 3 slices in batches of 4, then the whole image
    assert sizes[-1] == [(1000, 1000)] and all(s == (400, 400) for b in sizes[:-1] for s in b)


@pytest.mark.parametrize("settings, words", [
    (SliceSettings(512, overlap=1.0), "--slice-overlap 1.0"),
    (SliceSettings(16), "stride of 32"),
    (SliceSettings(512, merge="soft"), "--merge soft"),
    (SliceSettings(512, metric="giou"), "--merge-metric giou"),
    (SliceSettings(512, threshold=1.5), "--merge-threshold 1.5"),
])
def test_bad_settings_get_one_sentence(settings, words):
    with pytest.raises(UserError, match=words.replace(".", r"\.")) as err:
        settings.check(stride=32)
    assert "\n" not in str(err.value)


def test_metrics_iou_and_ios():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 20, 30]], float)
    assert pairwise(boxes, "iou")[0, 1] == pytest.approx(0.5)
    assert pairwise(boxes, "ios")[0, 1] == pytest.approx(1.0)
    assert pairwise(boxes, "ios")[0, 2] == 0 and pairwise(boxes, "ios")[2, 2] == 0  # zero area: 0, not NaN


def test_greedynmm_grows_the_best_box_and_keeps_its_class():
    d = np.array([[0, 0, 10, 10, 0.9, 1], [5, 0, 14, 10, 0.6, 1], [100, 100, 110, 110, 0.5, 1],
                  [0, 0, 10, 10, 0.8, 2], [8, 0, 14, 10, 0.7, 2]], float)
    out = merge_detections(d, "greedynmm", "ios", 0.5)
    # class 1: IOS 50/90 > 0.5, merged into the union; class 2: IOS 20/60 < 0.5, both stay; class-aware
    assert out.tolist() == [[0, 0, 14, 10, 0.9, 1], [0, 0, 10, 10, 0.8, 2], [8, 0, 14, 10, 0.7, 2],
                            [100, 100, 110, 110, 0.5, 1]]


def test_nms_suppresses_and_agnostic_crosses_classes():
    d = np.array([[0, 0, 10, 10, 0.9, 0], [1, 0, 11, 10, 0.8, 0], [0, 0, 10, 10, 0.7, 1]], float)
    assert merge_detections(d, "nms", "iou", 0.5)[:, 4].tolist() == pytest.approx([0.9, 0.7])
    assert merge_detections(d, "nms", "iou", 0.5, class_agnostic=True)[:, 4].tolist() == pytest.approx([0.9])


def test_nmm_is_transitive_where_greedy_is_not():
    # a - b overlap, b - c overlap, a - c do not: NMM merges all three through b, GREEDYNMM leaves c alone
    d = np.array([[0, 0, 10, 10, 0.9, 0], [6, 0, 16, 10, 0.8, 0], [12, 0, 22, 10, 0.7, 0]], float)
    assert len(merge_detections(d, "greedynmm", "iou", 0.2)) == 2
    nmm = merge_detections(d, "nmm", "iou", 0.2)
    assert len(nmm) == 1 and nmm[0, :4].tolist() == [0, 0, 16, 10]  # c is claimed, then fails the grown box
    # ... with a looser threshold the grown box keeps absorbing
    assert merge_detections(d, "nmm", "ios", 0.2)[0, :4].tolist() == [0, 0, 22, 10]


# -- the oracle ----------------------------------------------------------------------------------------


def _offset(image: np.ndarray, crop: np.ndarray) -> tuple[int, int]:
    """Where the view ``crop`` starts in ``image`` (x, y)."""
    off = crop.__array_interface__["data"][0] - image.__array_interface__["data"][0]
    return (off % image.strides[0]) // image.strides[1], off // image.strides[0]


def oracle(image: np.ndarray, gt: np.ndarray):
    """The ground truth clipped to each slice it touches; score = the visible fraction of the object."""
    def detect(crops):
        out = []
        for crop in crops:
            x0, y0 = _offset(image, crop)
            h, w = crop.shape[:2]
            box = gt[:, 1:5] - (x0, y0, x0, y0)
            clipped = np.clip(box, 0, (w, h, w, h))
            area = np.prod(box[:, 2:] - box[:, :2], 1)
            visible = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), 1) / area
            keep = visible > 0
            out.append(np.c_[clipped[keep], visible[keep], gt[keep, 0]])
        return out
    return detect


def _seam_canvas(size: int, settings: SliceSettings) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic canvas plus objects centred on every slice seam (where two slices overlap)."""
    rng = np.random.default_rng(3)
    image, gt = draw_large_canvas(rng, size, ["circle", "square", "star"], 60, radius=(6, 18))
    grid = slice_grid(size, size, settings.size, settings.overlap)
    seams = sorted({int(v) for v in grid[:, 0].tolist() + grid[:, 2].tolist()} - {0, size})
    extra = []
    for i, sx in enumerate(seams):
        for j, sy in enumerate(seams):
            r = 8 + 3 * ((i + j) % 3)
            box = np.array([sx - r, sy - r, sx + r, sy + r], float)
            if all(min(b[3], box[2]) - max(b[1], box[0]) <= 0 or min(b[4], box[3]) - max(b[2], box[1]) <= 0
                   for b in gt):
                extra.append([(i + j) % 3, *box])
    assert len(extra) >= 8
    return image, np.concatenate([gt, np.asarray(extra)])


def _coco(gt: np.ndarray, dets: np.ndarray, size: int) -> tuple[dict, list[dict]]:
    truth = {"images": [{"id": 1, "width": size, "height": size}], "categories": [{"id": c, "name": str(c)} for c in range(3)],
             "annotations": [{"id": i + 1, "image_id": 1, "category_id": int(c), "iscrowd": 0,
                              "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)}
                             for i, (c, x1, y1, x2, y2) in enumerate(gt.tolist())]}
    results = [{"image_id": 1, "category_id": int(c), "score": float(s), "bbox": [x1, y1, x2 - x1, y2 - y1]}
               for x1, y1, x2, y2, s, c in dets.tolist()]
    return truth, results


@pytest.mark.parametrize("merge", ["greedynmm", "nmm", "nms"])
@pytest.mark.parametrize("metric", ["ios", "iou"])
@pytest.mark.parametrize("full_pass", [False, True])
def test_oracle_scores_ap_one_after_merging(merge, metric, full_pass):
    size = 900
    settings = SliceSettings(256, overlap=0.25, merge=merge, metric=metric, threshold=0.5, full_pass=full_pass)
    image, gt = _seam_canvas(size, settings)
    raw = slice_detections(image, oracle(image, gt), settings, batch=5)
    split = (raw[:, 4] < 1).sum()
    assert split >= 8  # pieces of seam objects really were detected
    dets = predict_sliced(image, oracle(image, gt), settings, batch=5)
    metrics = evaluate_coco(*_coco(gt, dets, size))
    assert metrics["map50_95"] == pytest.approx(1.0) and metrics["map50"] == pytest.approx(1.0)
    whole = dets[dets[:, 4] == 1]
    assert len(whole) == len(gt)  # every object exactly once at full score
    if metric == "ios":  # a piece lies inside its object: IOS 1, so every piece is merged or suppressed
        assert len(dets) == len(gt)


def test_large_synthetic_dataset(tmp_path):
    yaml_path = make_large_synthetic_dataset(tmp_path / "big", num_train=1, num_val=1, canvas=640, objects=30)
    labels = (tmp_path / "big" / "labels" / "val" / "val_00000.txt").read_text().splitlines()
    wh = np.array([[float(v) for v in line.split()[3:5]] for line in labels]) * 640
    assert yaml_path.is_file() and len(labels) >= 20
    assert wh.max() <= 40 and wh.min() >= 6  # small objects on a large canvas
    again = make_large_synthetic_dataset(tmp_path / "again", num_train=1, num_val=1, canvas=640, objects=30)
    assert (again.parent / "labels" / "val" / "val_00000.txt").read_text() == "\n".join(labels) + "\n"


@pytest.mark.parametrize("merge", ["greedynmm", "nmm", "nms"])
@pytest.mark.parametrize("metric", ["ios", "iou"])
def test_row_by_row_merge_equals_the_dense_one(monkeypatch, merge, metric):
    """Many boxes are merged row by row (memory linear in the boxes): the same result as the (n, n) matrix."""
    import yololab.eval.slicing as slicing

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 600, (500, 2))
    d = np.c_[xy, xy + rng.uniform(4, 90, (500, 2)), rng.uniform(0, 1, 500).round(2), rng.integers(0, 2, 500)]
    dense = merge_detections(d, merge, metric, 0.4)
    monkeypatch.setattr(slicing, "DENSE_MAX", 0)
    rows = merge_detections(d, merge, metric, 0.4)
    assert 20 < len(rows) < 500 and np.array_equal(dense, rows)
