"""Precision-recall curves per category at IoU 0.5 and the F1-confidence curve with its best threshold.

Matching is COCO's (``matching``), so the PR curves are the ones behind COCO's AP50: only categories
with ground truth take part, detections absorbed by crowd regions are neither TP nor FP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from yololab.eval.analysis._index import Dataset
from yololab.eval.analysis.matching import RECALL_POINTS, class_outcomes, coco_ap, match_all

CONF_GRID = np.linspace(0.0, 1.0, 1001)


@dataclass
class Curves:
    """PR curves on COCO's 101 recall points and P/R/F1 against confidence, per category name."""

    recall: np.ndarray  # (101,) recall points
    precision: dict[str, np.ndarray]  # name -> (101,) interpolated precision (COCO envelope)
    ap50: dict[str, float]  # name -> COCO AP50
    conf: np.ndarray  # (c,) confidence thresholds
    p_conf: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (c,) precision at score >= conf
    r_conf: dict[str, np.ndarray] = field(default_factory=dict)
    f1_conf: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def mean_precision(self) -> np.ndarray:
        return np.mean(list(self.precision.values()), 0) if self.precision else np.zeros_like(self.recall)

    def mean(self, curves: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.mean(list(curves.values()), 0) if curves else np.zeros_like(self.conf)

    @property
    def map50(self) -> float:
        return float(np.mean(list(self.ap50.values()))) if self.ap50 else 0.0

    def best(self) -> tuple[float, float]:
        """(confidence, F1) at the maximum of the mean F1 over categories; on a plateau the highest
        such confidence (the same F1 from the fewest detections)."""
        f1 = self.mean(self.f1_conf)
        i = len(f1) - 1 - int(np.argmax(f1[::-1]))
        return float(self.conf[i]), float(f1[i])

    def to_json(self) -> dict[str, Any]:
        best_conf, best_f1 = self.best()
        return {
            "iou": 0.5, "map50": self.map50, "best_conf": best_conf, "best_f1": best_f1,
            "recall": self.recall.tolist(),
            "precision": {k: v.tolist() for k, v in self.precision.items()},
            "mean_precision": self.mean_precision.tolist(), "ap50": self.ap50,
            "conf": self.conf.tolist(),
            "mean_f1": self.mean(self.f1_conf).tolist(),
            "f1": {k: v.tolist() for k, v in self.f1_conf.items()},
        }


def _envelope_at_recall(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> np.ndarray:
    """COCO's interpolated precision at the 101 recall points (0 beyond the last recall reached)."""
    order = np.argsort(-scores, kind="mergesort")
    tps = np.cumsum(tp[order])
    recall = tps / num_gt
    precision = np.maximum.accumulate((tps / np.arange(1, len(tps) + 1))[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    q = np.zeros(len(RECALL_POINTS))
    q[idx < len(precision)] = precision[idx[idx < len(precision)]]
    return q


def _at_conf(scores: np.ndarray, tp: np.ndarray, num_gt: int, conf: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact precision, recall and F1 of the detections with score >= each threshold (P = 0 when none)."""
    order = np.argsort(-scores, kind="mergesort")
    s, tps = scores[order], np.concatenate(([0], np.cumsum(tp[order])))
    kept = len(s) - np.searchsorted(s[::-1], conf, side="left")  # number of scores >= conf
    tp_c = tps[kept]
    p = np.where(kept > 0, tp_c / np.maximum(kept, 1), 0.0)
    r = tp_c / num_gt
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-16), 0.0)
    return p, r, f1


def pr_curves(ds: Dataset, conf: np.ndarray = CONF_GRID) -> Curves:
    """PR (101 recall points) and P/R/F1-vs-confidence curves of every category with ground truth."""
    outcomes = class_outcomes(ds.images, match_all(ds.images, 0.5))
    empty = (np.zeros(0), np.zeros(0, bool))
    curves = Curves(recall=RECALL_POINTS.copy(), precision={}, ap50={}, conf=np.asarray(conf, np.float64))
    for c in ds.classes:
        scores, tp = outcomes.get(c, empty)
        name, n = ds.names[c], ds.num_gt[c]
        curves.precision[name] = _envelope_at_recall(scores, tp, n)
        curves.ap50[name] = coco_ap(scores, tp, n)
        curves.p_conf[name], curves.r_conf[name], curves.f1_conf[name] = _at_conf(scores, tp, n, curves.conf)
    return curves
