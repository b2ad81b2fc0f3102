"""PASCAL VOC AP50: 11-point (VOC2007) and all-point (VOC2010-2012) interpolation.

Hand-written (no maintained package takes COCO-format dicts): the matching follows the VOC devkit:
per category, detections of the whole dataset in score order; each takes the GT of its image and
category with the highest IoU; IoU > 0.5 with an unclaimed GT is a TP, with a claimed one a FP
(duplicate), and with a ``difficult`` or ``iscrowd`` GT it is ignored.  Difficult/crowd GT do not
count as positives.  Boxes are continuous COCO coordinates (no devkit "+1" pixel); crowd regions use
COCO's crowd IoU (intersection over the detection's area).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

import numpy as np

from yololab.eval.analysis._index import Dataset, index, iou

VOC_IOU = 0.5


def voc_interpolated_ap(recall: np.ndarray, precision: np.ndarray, metric: str = "voc12") -> float:
    """AP from a PR curve: ``voc07`` = mean of max precision at recall >= 0, 0.1, ..., 1;
    ``voc12`` = area under the monotone precision envelope (all points)."""
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if metric == "voc07":
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                              for t in np.linspace(0, 1, 11)]))
    if metric != "voc12":
        raise ValueError(f"metric must be 'voc07' or 'voc12', got {metric!r}")
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.maximum.accumulate(np.concatenate(([0.0], precision, [0.0]))[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def voc_ap(gt: Mapping[str, Any], dt: list[Mapping[str, Any]], metric: Literal["voc07", "voc12"] = "voc12",
           names: Mapping[int, str] | None = None) -> dict[str, Any]:
    """VOC AP50 of COCO results ``dt`` against COCO ground truth ``gt``.

    Returns ``map`` (mean over categories with at least one non-difficult, non-crowd GT) and
    ``per_class`` {name: AP}, both as fractions in [0, 1].
    """
    return voc_ap_of(index(gt, dt, names, max_dets=None), metric)


def voc_ap_of(ds: Dataset, metric: Literal["voc07", "voc12"] = "voc12") -> dict[str, Any]:
    """:func:`voc_ap` of grouped data (every detection kept)."""
    if metric not in ("voc07", "voc12"):
        raise ValueError(f"metric must be 'voc07' or 'voc12', got {metric!r}")
    npos: dict[int, int] = {}
    records: dict[int, list[tuple[float, int, int]]] = {}  # cls -> (score, image id, det index)
    for i, im in ds.images.items():
        for c, diff in zip(im.gt_cls.tolist(), im.gt_difficult.tolist()):
            npos[c] = npos.get(c, 0) + (not diff)
        for k, (c, s) in enumerate(zip(im.dt_cls.tolist(), im.dt_scores.tolist())):
            records.setdefault(c, []).append((s, i, k))
    per_class = {}
    for c in sorted(ds.names):
        if npos.get(c, 0) == 0:
            continue
        dets = sorted(records.get(c, []), key=lambda r: -r[0])
        tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
        claimed: dict[int, np.ndarray] = {}
        for n, (_, i, k) in enumerate(dets):
            im = ds.images[i]
            sel = np.flatnonzero(im.gt_cls == c)
            crowd = np.flatnonzero(im.crowd_cls == c)
            ov = np.concatenate((iou(im.dt_boxes[k:k + 1], im.gt_boxes[sel])[0],
                                 iou(im.dt_boxes[k:k + 1], im.crowd_boxes[crowd], np.ones(len(crowd), bool))[0]))
            if not len(ov) or ov.max() <= VOC_IOU:
                fp[n] = 1
                continue
            j = int(ov.argmax())
            if j >= len(sel) or im.gt_difficult[sel[j]]:
                continue  # ignored: best match is a difficult or crowd GT
            taken = claimed.setdefault(i, np.zeros(len(im.gt_boxes), bool))
            if taken[sel[j]]:
                fp[n] = 1
            else:
                tp[n], taken[sel[j]] = 1, True
        keep = (tp + fp) > 0
        tps, fps = np.cumsum(tp[keep]), np.cumsum(fp[keep])
        recall = tps / npos[c]
        precision = tps / np.maximum(tps + fps, np.finfo(np.float64).eps)
        per_class[ds.names[c]] = voc_interpolated_ap(recall, precision, metric)
    return {"map": float(np.mean(list(per_class.values()))) if per_class else 0.0, "per_class": per_class}
