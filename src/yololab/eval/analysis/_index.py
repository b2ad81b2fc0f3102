"""Per-image grouping of a COCO ground-truth dict and a COCO results list, shared by every analysis.

Accepts any valid COCO file: arbitrary image ids, category ids with gaps, ``iscrowd`` regions and
optional ``difficult`` flags.  IoU comes from the COCO mask API's ``iou`` (faster-coco-eval's, or
pycocotools' without it), so crowd regions get COCO's crowd IoU (intersection over the detection's area).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from yololab.eval.scoring_input import check_results

try:  # a project dependency; pycocotools (same function) where it is absent
    from faster_coco_eval.core import mask as mask_utils
except ImportError:  # pragma: no cover
    from pycocotools import mask as mask_utils

MAX_DETS = 100  # COCOeval's maxDets per image and category for AP


@dataclass
class ImageData:
    """One image: non-crowd GT, crowd GT and detections (sorted by score, highest first)."""

    gt_boxes: np.ndarray  # (g, 4) ltwh
    gt_cls: np.ndarray  # (g,) category ids
    gt_difficult: np.ndarray  # (g,) bool: VOC 'difficult' flag (ignored by VOC AP only)
    crowd_boxes: np.ndarray  # (c, 4) ltwh
    crowd_cls: np.ndarray  # (c,)
    dt_boxes: np.ndarray  # (d, 4) ltwh
    dt_cls: np.ndarray  # (d,)
    dt_scores: np.ndarray  # (d,)


@dataclass
class Dataset:
    """The ground truth and detections grouped per image (image ids in ascending order, like COCOeval)."""

    images: dict[int, ImageData]
    names: dict[int, str]  # category id -> name, every category of the GT file
    num_gt: dict[int, int] = field(default_factory=dict)  # non-crowd GT per category

    @property
    def classes(self) -> list[int]:
        """Categories with ground truth: the ones COCO's mAP averages over."""
        return [c for c in sorted(self.names) if self.num_gt.get(c, 0) > 0]

    def top_detections(self, max_dets: int = MAX_DETS) -> Dataset:
        """The same images keeping each image's ``max_dets`` top-scoring detections per category (as
        COCOeval does before AP), without grouping the files again."""
        images = {}
        for i, im in self.images.items():
            keep = _first_per_category(im.dt_cls, max_dets)
            images[i] = im if keep is None else replace(im, dt_boxes=im.dt_boxes[keep], dt_cls=im.dt_cls[keep],
                                                        dt_scores=im.dt_scores[keep])
        return Dataset(images=images, names=self.names, num_gt=self.num_gt)


def _first_per_category(categories: np.ndarray, max_dets: int) -> np.ndarray | None:
    """Mask of the first ``max_dets`` entries of each category (None: all are kept)."""
    if len(categories) <= max_dets:
        return None
    seen: dict[int, int] = defaultdict(int)
    keep = np.ones(len(categories), bool)
    for j, c in enumerate(categories.tolist()):
        seen[c] += 1
        keep[j] = seen[c] <= max_dets
    return None if keep.all() else keep


def iou(a: np.ndarray, b: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """(len(a), len(b)) IoU of ltwh boxes; ``crowd[j]`` marks b[j] as a crowd region (COCO crowd IoU)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    flags = [False] * len(b) if crowd is None else [bool(x) for x in crowd]
    return np.asarray(mask_utils.iou(a.astype(np.float64).tolist(), b.astype(np.float64).tolist(), flags))


def _boxes(anns: list[dict]) -> np.ndarray:
    return np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4)


def index(gt: Mapping[str, Any], dt: list[Mapping[str, Any]], names: Mapping[int, str] | None = None,
          max_dets: int | None = MAX_DETS) -> Dataset:
    """Group ``gt`` and ``dt`` per image.  With ``max_dets``, each image keeps only its top-scoring
    ``max_dets`` detections per category, as COCOeval does before computing AP."""
    grouped = _group(gt, dt, names)
    return grouped if max_dets is None else grouped.top_detections(max_dets)


def _group(gt: Mapping[str, Any], dt: list[Mapping[str, Any]], names: Mapping[int, str] | None) -> Dataset:
    """Every detection of every image, sorted by score (highest first; ties keep file order, as COCOeval)."""
    check_results(dict(gt), dt)
    img_ids = sorted({im["id"] for im in gt.get("images", [])})
    cat_names = {int(c["id"]): str(c.get("name", c["id"])) for c in gt.get("categories", [])}
    if names:
        cat_names.update({int(k): str(v) for k, v in names.items()})
    gts, dts = defaultdict(list), defaultdict(list)
    for a in gt.get("annotations", []):
        gts[a["image_id"]].append(a)
        cat_names.setdefault(int(a["category_id"]), str(a["category_id"]))
    for d in dt:
        dts[d["image_id"]].append(d)

    images, num_gt = {}, defaultdict(int)
    for i in img_ids:
        regular = [a for a in gts[i] if not a.get("iscrowd", 0)]
        crowd = [a for a in gts[i] if a.get("iscrowd", 0)]
        for a in regular:
            num_gt[int(a["category_id"])] += 1
        det = sorted(dts[i], key=lambda d: -d["score"])  # stable: ties keep file order, as COCOeval
        images[i] = ImageData(
            gt_boxes=_boxes(regular),
            gt_cls=np.asarray([a["category_id"] for a in regular], np.int64),
            gt_difficult=np.asarray([bool(a.get("difficult", 0)) for a in regular], bool),
            crowd_boxes=_boxes(crowd),
            crowd_cls=np.asarray([a["category_id"] for a in crowd], np.int64),
            dt_boxes=_boxes(det),
            dt_cls=np.asarray([d["category_id"] for d in det], np.int64),
            dt_scores=np.asarray([d["score"] for d in det], np.float64),
        )
    return Dataset(images=images, names=cat_names, num_gt=dict(num_gt))
