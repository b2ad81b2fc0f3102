"""Sliced inference on arrays: SAHI's slice grid and its three merges (GREEDYNMM, NMM, NMS) on IOU or IOS.

The definitions follow SAHI (obss/sahi; Akyon et al. 2022), re-implemented on numpy arrays:

- grid: square slices stepping by ``size - int(overlap * size)``; a slice that would cross the right or
  bottom border is moved back to sit flush with it; a slice larger than the image is the whole image.
- metrics: IOU = intersection / union, IOS = intersection / the smaller box's area (0 where that is 0).
- candidates: boxes in descending score, ties broken by x1, y1, x2, y2 ascending; a pair is a candidate
  when its metric is >= the threshold. Class-aware (each class alone) unless ``class_agnostic``.
- NMS keeps a box unless a kept higher-scoring box is a candidate of it.
- GREEDYNMM: each box not yet taken takes every lower-scoring candidate not yet taken.
- NMM: as GREEDYNMM, but a box merged into a keeper also brings that keeper its own candidates
  (transitively); of two boxes with equal scores only the one whose corners sort last takes the other.
- merging: the keeper absorbs its boxes in order, each only while its metric with the grown keeper is
  still > the threshold: box = union, score = max, class = the higher-scoring one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from yololab.data.tiling.grid import slice_grid  # noqa: F401  (the grid lives in data: tiled training cuts by it too)
from yololab.errors import UserError

MergeMode = Literal["greedynmm", "nmm", "nms"]
MergeMetric = Literal["ios", "iou"]
MERGES: tuple[str, ...] = ("greedynmm", "nmm", "nms")
METRICS: tuple[str, ...] = ("ios", "iou")


@dataclass(frozen=True)
class SliceSettings:
    """How one image is sliced and its slices' detections merged (sizes in original-image pixels).

    Predict's defaults are SAHI's (GREEDYNMM on IOS 0.5, with a whole-image pass). Scoring uses
    :meth:`for_val` instead: at val's confidence of 0.001 a merge grows boxes out of the many
    low-score ones and mAP collapses, so val suppresses (NMS on IOU 0.5), as SAHI itself switches to
    under a confidence of 0.1.
    """

    size: int
    overlap: float = 0.2
    merge: MergeMode = "greedynmm"
    metric: MergeMetric = "ios"
    threshold: float = 0.5
    full_pass: bool = True
    class_agnostic: bool = False

    @classmethod
    def for_val(cls, size: int, **changes) -> SliceSettings:
        """Val's defaults: NMS on IOU 0.5, which scores correctly at low confidence thresholds."""
        return cls(size, **{"merge": "nms", "metric": "iou", "threshold": 0.5, **changes})

    def check(self, stride: int = 1) -> SliceSettings:
        """Raise :class:`UserError` with one sentence for a setting that cannot slice; return self."""
        if not isinstance(self.size, int) or self.size < max(stride, 1):
            raise UserError(f"--slice {self.size}: a slice must be at least the model's stride of {stride} px")
        if not 0 <= self.overlap < 1:
            raise UserError(f"--slice-overlap {self.overlap}: the overlap is a fraction of the slice in [0, 1)")
        if self.merge not in MERGES:
            raise UserError(f"--merge {self.merge}: expected one of {', '.join(MERGES)}")
        if self.metric not in METRICS:
            raise UserError(f"--merge-metric {self.metric}: expected one of {', '.join(METRICS)}")
        if not 0 <= self.threshold <= 1:
            raise UserError(f"--merge-threshold {self.threshold}: expected a value in [0, 1]")
        return self


def pairwise(boxes: np.ndarray, metric: MergeMetric) -> np.ndarray:
    """(n, n) IOU or IOS of x1, y1, x2, y2 ``boxes`` (0 where the denominator is 0)."""
    b = np.asarray(boxes, np.float64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iw = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    ih = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    den = area[:, None] + area[None, :] - inter if metric == "iou" else np.minimum(area[:, None], area[None, :])
    out = np.zeros_like(inter)
    np.divide(inter, den, out=out, where=den > 0)
    return out


def _metric(a: np.ndarray, b: np.ndarray, metric: MergeMetric) -> float:
    """IOU or IOS of two boxes (plain floats: the merge loop calls this once per absorbed box)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    den = area_a + area_b - inter if metric == "iou" else min(area_a, area_b)
    return inter / den if den > 0 else 0.0


def _order(d: np.ndarray) -> np.ndarray:
    """Descending score, ties by x1, y1, x2, y2 ascending."""
    return np.lexsort((d[:, 3], d[:, 2], d[:, 1], d[:, 0], -d[:, 4]))


class _Rows:
    """One box's IOU or IOS against the boxes it can match, computed when asked: memory and time grow with
    the number of boxes, not its square (a 10,000 px image at val's confidence gives tens of thousands).

    With a threshold > 0 only intersecting boxes can match, found through the boxes sorted by x1 (a box
    starting more than the widest box's width to the left cannot reach); at 0 every pair matches."""

    def __init__(self, d: np.ndarray, metric: MergeMetric, thr: float) -> None:
        self.b, self.metric, self.everyone = d[:, :4], metric, thr <= 0
        self.area = (self.b[:, 2] - self.b[:, 0]) * (self.b[:, 3] - self.b[:, 1])
        self.by_x1 = np.argsort(self.b[:, 0], kind="stable")
        self.x1 = self.b[self.by_x1, 0]
        self.widest = float((self.b[:, 2] - self.b[:, 0]).max(initial=0.0))

    def near(self, i: int) -> np.ndarray:
        """Indices (ascending) of the boxes that can match box ``i``, itself included."""
        if self.everyone:
            return np.arange(len(self.b))
        b = self.b[i]
        idx = self.by_x1[np.searchsorted(self.x1, b[0] - self.widest, "left"):
                         np.searchsorted(self.x1, b[2], "right")]
        o = self.b[idx]
        return np.sort(idx[(o[:, 2] >= b[0]) & (o[:, 1] <= b[3]) & (o[:, 3] >= b[1])])

    def __call__(self, i: int, idx: np.ndarray) -> np.ndarray:
        b, o = self.b[i], self.b[idx]
        inter = (np.clip(np.minimum(b[2], o[:, 2]) - np.maximum(b[0], o[:, 0]), 0, None)
                 * np.clip(np.minimum(b[3], o[:, 3]) - np.maximum(b[1], o[:, 1]), 0, None))
        area = self.area[idx]
        den = self.area[i] + area - inter if self.metric == "iou" else np.minimum(self.area[i], area)
        out = np.zeros_like(inter)
        np.divide(inter, den, out=out, where=den > 0)
        return out


class _Dense:
    """All pairs at once (fewer, larger array operations): for up to :data:`DENSE_MAX` boxes."""

    def __init__(self, d: np.ndarray, metric: MergeMetric) -> None:
        self.matrix, self.all = pairwise(d[:, :4], metric), np.arange(len(d))

    def near(self, i: int) -> np.ndarray:
        return self.all

    def __call__(self, i: int, idx: np.ndarray) -> np.ndarray:
        return self.matrix[i, idx]


#: boxes of one class merged through one (n, n) matrix; more go through :class:`_Rows`
DENSE_MAX = 2048


def _nms(d: np.ndarray, rows: _Rows | _Dense, order: np.ndarray, thr: float) -> list[int]:
    keep, taken = [], np.zeros(len(d), bool)
    for i in order:
        if not taken[i]:
            keep.append(int(i))
            near = rows.near(i)
            taken[near[rows(i, near) >= thr]] = True  # earlier boxes are decided already
    return keep


def _greedy(d: np.ndarray, rows: _Rows | _Dense, order: np.ndarray, thr: float) -> dict[int, list[int]]:
    rank = np.empty(len(d), np.int64)
    rank[order] = np.arange(len(d))
    groups: dict[int, list[int]] = {}
    taken = np.zeros(len(d), bool)
    for i in order:
        if taken[i]:
            continue
        near = rows.near(i)
        near = near[(rank[near] > rank[i]) & ~taken[near]]
        members = near[rows(i, near) >= thr]
        members = members[np.argsort(rank[members])]  # in score order, as SAHI absorbs them
        taken[members] = True
        groups[int(i)] = members.tolist()
    return groups


def _nmm(d: np.ndarray, rows: _Rows | _Dense, order: np.ndarray, thr: float) -> dict[int, list[int]]:
    n = len(d)
    s = d[:, 4]
    owner = np.full(n, -1, np.int64)
    groups: dict[int, list[int]] = {}
    for i in order:
        if owner[i] < 0:
            owner[i] = i
            groups[int(i)] = []
        keeper = int(owner[i])
        free = rows.near(i)
        free = free[owner[free] < 0]
        if not len(free):
            continue
        # i may take j: j scores lower, or as high without i's corners (x1, y1, x2, y2) sorting first
        less, equal = np.zeros(len(free), bool), np.ones(len(free), bool)
        for c in range(4):
            less |= equal & (d[i, c] < d[free, c])
            equal &= d[i, c] == d[free, c]
        may = (s[i] > s[free]) | ((s[i] == s[free]) & ~less)
        for j in free[may & (rows(i, free) >= thr)].tolist():  # ascending index, as SAHI takes them
            owner[j] = keeper
            groups[keeper].append(j)
    return groups


def _absorb(d: np.ndarray, groups: dict[int, list[int]], metric: MergeMetric, thr: float) -> np.ndarray:
    """Each keeper grown by its group's boxes, each absorbed while still matching the grown box."""
    out = np.empty((len(groups), 6), np.float64)
    for row, (k, members) in enumerate(groups.items()):
        box = d[k].copy()
        for m in members:
            other = d[m]
            if _metric(box, other, metric) > thr:
                cls = box[5] if box[4] > other[4] else other[5]
                box[:4] = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))
                box[4], box[5] = max(box[4], other[4]), cls
        out[row] = box
    return out


def merge_detections(dets: np.ndarray, merge: MergeMode = "greedynmm", metric: MergeMetric = "ios",
                     threshold: float = 0.5, class_agnostic: bool = False) -> np.ndarray:
    """Merge (n, 6) x1, y1, x2, y2, score, class detections of overlapping slices; returns (m, 6) float64
    sorted by descending score (the input's order among equal scores)."""
    d = np.asarray(dets, np.float64).reshape(-1, 6)
    if merge not in MERGES or metric not in METRICS:
        raise ValueError(f"merge {merge!r} / metric {metric!r}: expected one of {MERGES} / {METRICS}")
    if len(d) < 2:
        return d.copy()
    pieces = []
    for idx in ([np.arange(len(d))] if class_agnostic else [np.flatnonzero(d[:, 5] == c) for c in np.unique(d[:, 5])]):
        sub = d[idx]
        rows = _Dense(sub, metric) if len(sub) <= DENSE_MAX else _Rows(sub, metric, threshold)
        order = _order(sub)
        if merge == "nms":
            pieces.append(sub[_nms(sub, rows, order, threshold)])
        else:
            groups = (_greedy if merge == "greedynmm" else _nmm)(sub, rows, order, threshold)
            pieces.append(_absorb(sub, groups, metric, threshold))
    out = np.concatenate(pieces)
    return out[np.argsort(-out[:, 4], kind="stable")]


def add_slice_arguments(p, command: str) -> None:
    """``--slice`` and its merge options on ``yololab predict`` / ``yololab val``'s parser."""
    import argparse

    defaults = SliceSettings.for_val(1) if command == "val" else SliceSettings(1)
    p.add_argument("--slice", type=int, default=None, metavar="SIZE",
                   help="sliced inference: square slices of SIZE original-image pixels, each letterboxed to "
                        "--imgsz, merged over the whole image (SAHI's method)")
    p.add_argument("--slice-overlap", type=float, default=0.2, metavar="F",
                   help="overlap of neighbouring slices, a fraction of SIZE (default 0.2)")
    p.add_argument("--merge", choices=MERGES, default=None,
                   help=f"how slices' detections are merged (default here: {defaults.merge})")
    p.add_argument("--merge-metric", choices=METRICS, default=None,
                   help=f"overlap measure of the merge: ios = intersection over the smaller box (default here: "
                        f"{defaults.metric})")
    p.add_argument("--merge-threshold", type=float, default=None,
                   help=f"boxes overlapping more than this are merged (default {defaults.threshold})")
    p.add_argument("--full-pass", action=argparse.BooleanOptionalAction, default=True,
                   help="with --slice: one extra whole-image pass, for large objects (default: on)")


def slice_settings(args, command: str) -> SliceSettings | None:
    """The :class:`SliceSettings` that ``args`` ask for (unchecked), or None without ``--slice``."""
    given = {k: v for k, v in (("merge", args.merge), ("metric", args.merge_metric),
                               ("threshold", args.merge_threshold)) if v is not None}
    if args.slice is None:
        if given:
            raise UserError("--merge, --merge-metric and --merge-threshold apply to sliced inference: add --slice SIZE")
        return None
    base = SliceSettings.for_val(args.slice) if command == "val" else SliceSettings(args.slice)
    return SliceSettings(args.slice, args.slice_overlap, given.get("merge", base.merge), given.get("metric", base.metric),
                         given.get("threshold", base.threshold), args.full_pass)
