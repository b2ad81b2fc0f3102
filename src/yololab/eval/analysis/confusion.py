"""Confusion matrix with a background row and column, like upstream YOLOv5's but transposed.

Convention: rows = true class, columns = predicted class (scikit-learn's); the last row/column is
"background".  Row "background" counts false positives (detections matching no GT), column
"background" counts missed GT.  Only detections with score >= ``conf`` count.  Matching is
class-agnostic, greedy by IoU (highest first), one-to-one, IoU >= ``iou``; an unmatched detection
overlapping a crowd region (COCO crowd IoU >= ``iou``) is dropped, and crowd GT is never counted.
Hand-written: upstream's version is not importable and no library matches boxes this way.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yololab.atomic import atomic_write_text
from yololab.eval.analysis._index import Dataset, iou

BACKGROUND = "background"


@dataclass
class ConfusionMatrix:
    """Counts (n+1, n+1): rows = true, columns = predicted, last = background; ``names`` of the n classes."""

    counts: np.ndarray
    names: list[str]

    @property
    def labels(self) -> list[str]:
        return [*self.names, BACKGROUND]

    def normalised(self) -> np.ndarray:
        """Each row divided by its sum (rows without any count stay 0)."""
        total = self.counts.sum(1, keepdims=True)
        return np.divide(self.counts, total, out=np.zeros(self.counts.shape), where=total > 0)

    def to_csv(self, path: Path) -> None:
        """Counts with class names: first column = true class, header = predicted class."""
        f = io.StringIO(newline="")
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *self.labels])
        for name, row in zip(self.labels, self.counts.tolist()):
            w.writerow([name, *row])
        atomic_write_text(path, f.getvalue(), Path(path).parent)


def confusion_matrix(ds: Dataset, conf: float = 0.25, iou_thr: float = 0.45) -> ConfusionMatrix:
    """Confusion matrix over every category of the ground-truth file (in category-id order)."""
    cats = sorted(ds.names)
    col = {c: n for n, c in enumerate(cats)}
    bg = len(cats)
    m = np.zeros((bg + 1, bg + 1), np.int64)
    for im in ds.images.values():
        keep = im.dt_scores >= conf
        boxes, cls = im.dt_boxes[keep], im.dt_cls[keep]
        ious = iou(boxes, im.gt_boxes)
        pairs = np.argwhere(ious >= iou_thr)
        pairs = pairs[np.argsort(-ious[pairs[:, 0], pairs[:, 1]], kind="mergesort")] if len(pairs) else pairs
        dt_used, gt_used = np.zeros(len(boxes), bool), np.zeros(len(im.gt_boxes), bool)
        for k, j in pairs:
            if not dt_used[k] and not gt_used[j]:
                dt_used[k] = gt_used[j] = True
                m[col[int(im.gt_cls[j])], col[int(cls[k])]] += 1
        for j in np.flatnonzero(~gt_used):
            m[col[int(im.gt_cls[j])], bg] += 1
        crowd = iou(boxes, im.crowd_boxes, np.ones(len(im.crowd_boxes), bool))
        for k in np.flatnonzero(~dt_used):
            if not (crowd.shape[1] and crowd[k].max() >= iou_thr):
                m[bg, col[int(cls[k])]] += 1
    return ConfusionMatrix(counts=m, names=[ds.names[c] for c in cats])
