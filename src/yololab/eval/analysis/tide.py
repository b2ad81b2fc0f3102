"""TIDE error breakdown (Bolya et al. 2020, "TIDE: A General Toolbox for Identifying Object Detection
Errors"): each error type's cost in AP50 points, found by fixing only that type oracle-style.

Own code, not the ``tidecv`` package: tidecv 1.0.1 still imports on current numpy, but it requires
``opencv-python`` (clashes with the project's ``opencv-python-headless``), pandas and seaborn, and its
mAP also averages categories that have detections but no ground truth (COCO leaves those out), so its
baseline is not COCO's AP50.  The rules below are the paper's, in tidecv's order of precedence, for a
detection that is neither a true positive nor absorbed by a crowd region at the foreground IoU t_f:

* image without ground truth -> background
* localisation: max IoU with a GT of its class in [t_b, t_f)
* classification: max IoU with a GT of another class >= t_f
* duplicate: max IoU with an already-matched GT of its class >= t_f
* background: max IoU with any GT < t_b
* both: everything else (wrong class and t_b <= IoU < t_f)
* missed: a GT left unmatched that no classification/localisation error could claim.

Fixes (the paper's oracles): a classification or localisation error becomes a true positive of its
target GT when that GT is unmatched and it is the highest-scoring classification-or-localisation error
claiming it (as tidecv, so one GT is credited to one error type; the other claimants are removed);
duplicate, background and both errors are removed; missed GT are dropped from the
GT count.  AP is COCO's 101-point AP at t_f (``matching.coco_ap``), averaged over categories with GT.

Two deliberate departures from tidecv, both COCO's rules: each image keeps its top 100 detections per
category, and detections absorbed by a crowd region are not errors (tidecv counts them as background,
though they never change its AP).  Without those two, the dAPs and counts equal tidecv's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import numpy as np

from yololab.eval.analysis._index import Dataset, index
from yololab.eval.analysis.matching import coco_ap, match_all

ERROR_TYPES = ("cls", "loc", "both", "dupe", "bkg", "miss")
ERROR_LABELS = {"cls": "Classification", "loc": "Localisation", "both": "Both", "dupe": "Duplicate",
                "bkg": "Background", "miss": "Missed"}


def _classify(ds: Dataset, t_f: float, t_b: float) -> tuple[list[dict], list[dict], dict[int, int]]:
    """Data points (class, score, tp, error, target GT key) of every scored detection; missed GT; GT counts."""
    points, missed = [], []
    for i, im in ds.images.items():
        m = match_all({i: im}, t_f)[i]
        ious = m.ious
        used = np.zeros(len(im.gt_boxes), bool)
        used[m.dt_gt[m.dt_gt >= 0]] = True
        claimed = np.zeros(len(im.gt_boxes), bool)
        for k in range(len(im.dt_cls)):
            if m.dt_ignored[k]:
                continue
            c, s = int(im.dt_cls[k]), float(im.dt_scores[k])
            if m.dt_gt[k] >= 0:
                points.append({"cls": c, "score": s, "tp": True, "error": None, "gt": None})
                continue
            err, target = _error_of(ious[k], im.gt_cls == c, used, t_f, t_b)
            if err in ("cls", "loc") and not used[target]:
                claimed[target] = True
            gt_key = (i, target) if target is not None and not used[target] else None
            fix_cls = int(im.gt_cls[target]) if err == "cls" else c
            points.append({"cls": c, "score": s, "tp": False, "error": err, "gt": gt_key, "fix_cls": fix_cls})
        missed += [{"cls": int(im.gt_cls[j])} for j in np.flatnonzero(~used & ~claimed)]
    return points, missed, dict(ds.num_gt)


def _error_of(ious: np.ndarray, same: np.ndarray, used: np.ndarray, t_f: float, t_b: float) -> tuple[str, int | None]:
    """Error type of one false positive from its IoU with the image's GT (and the GT it would fix)."""
    if not len(ious):
        return "bkg", None
    same_iou = np.where(same, ious, 0.0)
    j = int(same_iou.argmax())
    if t_b <= same_iou[j] < t_f:
        return "loc", j
    other_iou = np.where(same, 0.0, ious)
    j = int(other_iou.argmax())
    if other_iou[j] >= t_f:
        return "cls", j
    if (np.where(used, same_iou, 0.0) >= t_f).any():
        return "dupe", None
    if ious.max() < t_b:
        return "bkg", None
    return "both", None


def _map(points: list[dict], num_gt: Mapping[int, int], classes: list[int]) -> float:
    """Mean COCO AP over ``classes`` of data points (class, score, tp) with the given GT counts."""
    by_cls: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for p in points:
        by_cls[p["cls"]][0].append(p["score"])
        by_cls[p["cls"]][1].append(p["tp"])
    aps = [coco_ap(np.asarray(by_cls[c][0]), np.asarray(by_cls[c][1], bool), num_gt.get(c, 0)) for c in classes]
    return float(np.mean(aps)) if aps else 0.0


def _fixed(points: list[dict], missed: list[dict], num_gt: dict[int, int],
           kind: str) -> tuple[list[dict], dict[int, int]]:
    """The data points and GT counts with every error of ``kind`` fixed oracle-style."""
    if kind == "miss":
        counts = dict(num_gt)
        for g in missed:
            counts[g["cls"]] -= 1
        return points, counts
    out = [p for p in points if p["error"] != kind]
    if kind in ("cls", "loc"):
        best: dict[Any, dict] = {}
        for p in points:  # the highest-scoring cls/loc error claiming each unmatched GT owns it
            if p["error"] in ("cls", "loc") and p["gt"] is not None and (
                    p["gt"] not in best or p["score"] > best[p["gt"]]["score"]):
                best[p["gt"]] = p
        out += [{"cls": p["fix_cls"], "score": p["score"], "tp": True} for p in best.values() if p["error"] == kind]
    return out, num_gt


def tide_errors(gt: Mapping[str, Any], dt: list[Mapping[str, Any]], t_f: float = 0.5,
                t_b: float = 0.1) -> dict[str, Any]:
    """TIDE main errors of COCO results ``dt`` against COCO ground truth ``gt``.

    Returns ``ap50`` (baseline, in points: 100 x COCO mAP at t_f), ``dap`` {type: AP points gained by
    fixing that type alone, clipped at 0 as in the paper} and ``counts`` {type: number of errors}, for
    types ``cls, loc, both, dupe, bkg, miss``.
    """
    return tide_errors_of(index(gt, dt), t_f, t_b)


def tide_errors_of(ds: Dataset, t_f: float = 0.5, t_b: float = 0.1) -> dict[str, Any]:
    """:func:`tide_errors` of grouped data (each image's top 100 detections per category)."""
    points, missed, num_gt = _classify(ds, t_f, t_b)
    classes = ds.classes
    base = _map(points, num_gt, classes)
    dap = {}
    for kind in ERROR_TYPES:
        fixed_points, fixed_gt = _fixed(points, missed, num_gt, kind)
        dap[kind] = max(0.0, 100 * (_map(fixed_points, fixed_gt, classes) - base))
    counts = {kind: sum(p["error"] == kind for p in points) for kind in ERROR_TYPES if kind != "miss"}
    counts["miss"] = len(missed)
    return {"ap50": 100 * base, "dap": dap, "counts": {k: counts[k] for k in ERROR_TYPES}}
