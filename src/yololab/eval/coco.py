"""COCO-protocol box evaluation: YOLO labels -> COCO json, detections -> COCO results, and a thin
wrapper around faster-coco-eval (pycocotools as fallback).  COCOeval itself is never re-implemented.

:func:`score_coco` is the one scorer: ground truth + detections in, the checked inputs scored and the
:class:`~yololab.eval.results.CocoMetrics` record out (:func:`evaluate_coco` is its plain-dict form).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch

from yololab.errors import DataError
from yololab.eval.results import STAT_KEYS, ClassAP, CocoMetrics
from yololab.eval.scoring_input import check_results

try:  # C++ evaluator, same numbers as pycocotools
    from faster_coco_eval import COCO, COCOeval_faster

    BACKEND = "faster_coco_eval"
except ImportError:  # pragma: no cover - exercised only without faster-coco-eval
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval as COCOeval_faster

    BACKEND = "pycocotools"

__all__ = [
    "BACKEND",
    "STAT_KEYS",
    "coco80_to_coco91",
    "image_ids",
    "check_results",
    "restrict_gt",
    "yolo_records_to_coco_gt",
    "detections_to_coco",
    "score_coco",
    "evaluate_coco",
    "evaluate_files",
]

PathLike = str | os.PathLike
CategoryMap = Sequence[int] | Mapping[int, int]


class LabelRecord(Protocol):
    """What :func:`yolo_records_to_coco_gt` needs from a dataset record."""

    path: PathLike
    width: int  # true (original) image width in pixels
    height: int  # true (original) image height in pixels
    labels: np.ndarray  # (n, 5+) float: cls, cx, cy, w, h normalised to [0, 1]


def coco80_to_coco91() -> list[int]:
    """Original COCO category id (1..90, with gaps) of each of the 80 contiguous YOLO classes."""
    gaps = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    return [i for i in range(1, 91) if i not in gaps]


def image_ids(paths: Sequence[PathLike]) -> list[int]:
    """YOLO-format convention for COCO image ids: ``int(stem)`` when every stem is numeric and they are
    unique (COCO files: ``000000000139.jpg`` -> 139), otherwise the 1-based position. A COCO JSON data
    set keeps its own ids instead (``ImageRecord.image_id``)."""
    stems = [Path(p).stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return list(range(1, len(stems) + 1))


def _cat_id(cls: int, category_map: CategoryMap | None) -> int:
    return int(cls) if category_map is None else int(category_map[int(cls)])


def yolo_records_to_coco_gt(
    records: Sequence[LabelRecord],
    names: Sequence[str] | Mapping[int, str],
    category_map: CategoryMap | None = None,
) -> dict[str, Any]:
    """COCO ground-truth dict (images, annotations, categories) from YOLO label records.

    Image ids come from :func:`image_ids`; category id = class index, or ``category_map[cls]``;
    bbox = [left, top, w, h] in true image pixels; area = w * h in pixels; iscrowd = 0.
    """
    names = dict(enumerate(names)) if not isinstance(names, Mapping) else dict(names)
    ids = image_ids([r.path for r in records])
    images, annotations = [], []
    for img_id, r in zip(ids, records):
        w_img, h_img = int(r.width), int(r.height)
        images.append({"id": img_id, "file_name": Path(r.path).name, "width": w_img, "height": h_img})
        lb = np.zeros((0, 5)) if r.labels is None or not np.size(r.labels) else np.asarray(r.labels, np.float64)
        for cls, cx, cy, w, h in lb.reshape(-1, lb.shape[-1])[:, :5].tolist():
            bw, bh = w * w_img, h * h_img
            annotations.append(
                {
                    "id": len(annotations) + 1,  # ids must be >= 1: COCOeval treats id 0 as "unmatched"
                    "image_id": img_id,
                    "category_id": _cat_id(cls, category_map),
                    "bbox": [(cx - w / 2) * w_img, (cy - h / 2) * h_img, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": _cat_id(c, category_map), "name": n, "supercategory": ""} for c, n in sorted(names.items())]
    return {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": categories}


def detections_to_coco(
    image_id: int,
    dets_xyxy_score_cls: torch.Tensor | np.ndarray,
    category_map: CategoryMap | None = None,
) -> list[dict[str, Any]]:
    """COCO result dicts for one image from ``(n, 6)`` x1, y1, x2, y2, score, cls detections in
    original-image pixels.  Like upstream, bbox is rounded to 3 decimals and score to 5 (computed in
    float64 first, so the rounding is the only loss)."""
    d = dets_xyxy_score_cls
    d = d.detach().to("cpu", torch.float64).numpy() if isinstance(d, torch.Tensor) else np.asarray(d, np.float64)
    if not d.size:
        return []
    ltwh = np.round(np.stack((d[:, 0], d[:, 1], d[:, 2] - d[:, 0], d[:, 3] - d[:, 1]), 1), 3).tolist()
    scores = np.round(d[:, 4], 5).tolist()
    cats = [_cat_id(c, category_map) for c in d[:, 5].astype(np.int64).tolist()]
    return [
        {"image_id": image_id, "category_id": c, "bbox": b, "score": s} for b, s, c in zip(ltwh, scores, cats)
    ]


def load_json(x: Any) -> Any:
    """A JSON file's content, or ``x`` itself when it is already loaded (a dict or list)."""
    if isinstance(x, (str, os.PathLike)):
        with open(x, encoding="utf-8") as f:
            try:
                return json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise DataError(f"{x} is not valid JSON: {err}") from None
    return x


def _coco_from_dict(gt: dict) -> COCO:
    """COCO api object from a dict without printing (pycocotools' constructor only takes paths)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
    return coco


#: the ``tiny`` area bin of AI-TOD and VisDrone tools (area < 16^2 px), scored next to COCO's three
TINY_AREA = 16.0**2


def _run_cocoeval(gt: dict, dt: list[dict], max_dets: int = 100) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Run the evaluator (COCO's area ranges plus ``tiny`` last; AP at ``max_dets`` detections per image);
    return ``stats[:12]``, precision [T, R, K, A, M] and its category ids."""
    coco_gt = _coco_from_dict(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(d) for d in dt])  # loadRes adds keys: keep the caller's dicts intact
        if BACKEND == "faster_coco_eval":
            ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=lambda *a, **k: None)
        else:  # pragma: no cover
            ev = COCOeval_faster(coco_gt, coco_dt, "bbox")
        ev.params.areaRng = [*ev.params.areaRng[:4], [0.0, TINY_AREA]]
        ev.params.areaRngLbl = [*ev.params.areaRngLbl[:4], "tiny"]
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = np.asarray(ev.stats, dtype=np.float64)
    if BACKEND == "faster_coco_eval":  # it reports AP_tiny after AP_large and AR_tiny after AR_large
        stats = stats[[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]]
    return stats[:12], np.asarray(ev.eval["precision"]), list(ev.params.catIds)


def restrict_gt(gt: dict, image_ids: Sequence[Any]) -> tuple[dict, list[str]]:
    """``gt`` limited to ``image_ids`` (the images actually scored) -> (new dict, file names left out)."""
    keep = set(image_ids)
    unknown = keep - {im["id"] for im in gt["images"]}
    if unknown:
        raise ValueError(f"image ids {sorted(unknown, key=str)[:5]} are not in the ground truth")
    left_out = [str(im.get("file_name", im["id"])) for im in gt["images"] if im["id"] not in keep]
    if not left_out:
        return gt, []
    out = dict(gt)
    out["images"] = [im for im in gt["images"] if im["id"] in keep]
    out["annotations"] = [a for a in gt.get("annotations", []) if a["image_id"] in keep]
    return out, left_out


def _mean_valid(a: np.ndarray) -> float:
    v = a[a > -1]
    return float(v.mean()) if v.size else 0.0


def _evaluate(gt: dict, dt: list[dict], names: Sequence[str] | Mapping[int, str] | None,
              max_dets: int = 100) -> tuple[np.ndarray, dict[str, ClassAP], float]:
    """COCOeval's 12 stats and the AP of each category that has ground truth (at area=all,
    maxDets=100, from the precision array), named by ``names`` (category id -> name; default: the GT's),
    and the AP of tiny objects (< 16^2 px; -1 without any). ``max_dets`` replaces COCO's 100 detections per
    image. Empty detections (or empty ground truth) give zeros without running the evaluator."""
    if names is None:
        names = {c["id"]: c["name"] for c in gt.get("categories", [])}
    elif not isinstance(names, Mapping):
        names = dict(enumerate(names))

    instances: dict[int, int] = {}
    for a in gt.get("annotations", []):
        if not a.get("iscrowd", 0):
            instances[a["category_id"]] = instances.get(a["category_id"], 0) + 1

    if dt and instances:
        stats, precision, cat_ids = _run_cocoeval(gt, dt, max_dets)
        tiny = precision[:, :, :, 4, -1]
        map_tiny = float(tiny[tiny > -1].mean()) if (tiny > -1).any() else -1.0
    else:
        stats, precision, cat_ids, map_tiny = np.zeros(12), None, sorted(instances), 0.0

    per_class = {}
    for k, cid in enumerate(cat_ids):
        if not instances.get(cid):
            continue
        if precision is None:
            ap, ap50 = 0.0, 0.0
        else:
            p = precision[:, :, k, 0, -1]  # [T, R] at area=all, maxDets=100
            ap, ap50 = _mean_valid(p), _mean_valid(p[0])
        per_class[str(names.get(cid, cid))] = ClassAP(ap, ap50, instances[cid])
    return stats, per_class, map_tiny


def score_coco(
    gt: dict | PathLike,
    dt: list[dict] | PathLike,
    names: Sequence[str] | Mapping[int, str] | None = None,
    max_dets: int = 100,
) -> CocoMetrics:
    """COCO bbox metrics of detections ``dt`` against ground truth ``gt`` (dicts or json paths).

    Both are checked first (:func:`check_results`); the record holds the 12 COCO stats by name (None
    where COCO has no value), the per-class AP over categories that have ground truth, and the
    numbers of images and detections, and ``map_tiny`` (AP of objects < 16^2 px, None without any).
    ``names`` maps category id -> name (default: the GT's); ``max_dets`` replaces COCO's 100 detections
    per image (VisDrone scores 500).
    """
    gt, dt = load_json(gt), load_json(dt)
    check_results(gt, dt)
    stats, per_class, map_tiny = _evaluate(gt, dt, names, max_dets)
    return CocoMetrics.from_stats(stats, per_class, len({im["id"] for im in gt.get("images", [])}), len(dt),
                                  map_tiny)


def evaluate_coco(
    gt: dict | PathLike,
    dt: list[dict] | PathLike,
    names: Sequence[str] | Mapping[int, str] | None = None,
    max_dets: int = 100,
) -> dict[str, Any]:
    """:func:`score_coco` as a plain dict: the 12 COCO stats by name (see ``STAT_KEYS``; -1 "no ground
    truth in this area range" is reported as 0.0), the raw ``stats`` list, ``per_class`` {name:
    {ap50_95, ap50, instances}}, ``num_images`` and ``num_detections``."""
    metrics = score_coco(gt, dt, names, max_dets)
    return {**metrics.as_dict(), **{key: max(v, 0.0) for key, v in zip(STAT_KEYS, metrics.stats)}}


def evaluate_files(gt_json: PathLike, dt_json: PathLike) -> dict[str, Any]:
    """``yololab val --gt instances.json --dt results.json``: :func:`evaluate_coco` on two json files."""
    return evaluate_coco(Path(gt_json), Path(dt_json))
