"""COCO-style matching of detections to ground truth at one IoU threshold, and COCO's 101-point AP.

Hand-written because the error analysis needs per-detection outcomes (which GT a detection took, or
why not) that COCOeval keeps internal; the rules follow ``COCOeval.evaluateImg`` (greedy by score
within an image and category, best still-unmatched GT with IoU >= t, crowd regions absorb otherwise
unmatched detections) and ``accumulate`` (stable score sort across images, precision envelope, 101
recall points), so the baseline AP50 here equals COCO's mAP50 (checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yololab.eval.analysis._index import ImageData, iou

RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCOeval's recThrs


@dataclass
class ImageMatch:
    """Outcome of matching one image: ``dt_gt[k]`` = index of the GT detection k took (-1: none),
    ``dt_ignored[k]`` = k matched a crowd region instead (neither TP nor FP), ``ious`` = det x GT IoU."""

    dt_gt: np.ndarray
    dt_ignored: np.ndarray
    ious: np.ndarray


def match_image(im: ImageData, iou_thr: float) -> ImageMatch:
    """Match the detections of one image (already sorted by score) COCO-style, per category."""
    ious = iou(im.dt_boxes, im.gt_boxes)
    crowd_ious = iou(im.dt_boxes, im.crowd_boxes, np.ones(len(im.crowd_boxes), bool))
    dt_gt = np.full(len(im.dt_boxes), -1, np.int64)
    ignored = np.zeros(len(im.dt_boxes), bool)
    taken = np.zeros(len(im.gt_boxes), bool)
    for k, c in enumerate(im.dt_cls):
        best, j_best = min(iou_thr, 1 - 1e-10), -1
        for j in np.flatnonzero(im.gt_cls == c):
            if not taken[j] and ious[k, j] >= best:
                best, j_best = ious[k, j], j
        if j_best >= 0:
            dt_gt[k], taken[j_best] = j_best, True
        elif len(im.crowd_boxes):
            same = im.crowd_cls == c
            ignored[k] = bool(same.any() and crowd_ious[k, same].max() >= min(iou_thr, 1 - 1e-10))
    return ImageMatch(dt_gt=dt_gt, dt_ignored=ignored, ious=ious)


def coco_ap(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """COCO AP from one category's detections (score, is-TP) over the whole dataset: stable sort by
    score, precision envelope, mean precision at the 101 recall points (0 where recall is not reached)."""
    if num_gt <= 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    tp = np.asarray(tp, bool)[order]
    tps, fps = np.cumsum(tp), np.cumsum(~tp)
    recall = tps / num_gt
    precision = np.maximum.accumulate((tps / np.maximum(tps + fps, 1))[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    q = np.zeros(len(RECALL_POINTS))
    q[idx < len(precision)] = precision[idx[idx < len(precision)]]
    return float(q.mean())


def match_all(images: dict[int, ImageData], iou_thr: float) -> dict[int, ImageMatch]:
    """:func:`match_image` for every image (image id -> match)."""
    return {i: match_image(im, iou_thr) for i, im in images.items()}


def class_outcomes(images: dict[int, ImageData],
                   matches: dict[int, ImageMatch]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Category -> (scores, is-TP) of its non-ignored detections, in image-id then score order."""
    scores: dict[int, list] = {}
    tps: dict[int, list] = {}
    for i, im in images.items():
        m = matches[i]
        for k in np.flatnonzero(~m.dt_ignored):
            c = int(im.dt_cls[k])
            scores.setdefault(c, []).append(im.dt_scores[k])
            tps.setdefault(c, []).append(m.dt_gt[k] >= 0)
    return {c: (np.asarray(scores[c], np.float64), np.asarray(tps[c], bool)) for c in scores}
