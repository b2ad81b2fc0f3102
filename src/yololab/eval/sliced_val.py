"""``yololab val --slice``: each image predicted slice by slice, the stitched detections scored by the COCO
protocol against the full image's ground truth (the mAP a paper on sliced inference reports)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from tqdm import tqdm

from yololab.data import ImageRecord
from yololab.data.imaging.images import read_image
from yololab.eval.coco import detections_to_coco, image_ids, score_coco, yolo_records_to_coco_gt
from yololab.eval.protocol import ValModel
from yololab.eval.results import ValResult
from yololab.eval.sliced import ModelSliceDetector, predict_sliced
from yololab.eval.slicing import SliceSettings
from yololab.eval.validate import ValSettings, _ground_truth


def validate_sliced(model: ValModel, records: Sequence[ImageRecord], names: Sequence[str], settings: ValSettings,
                    slicing: SliceSettings, device: str | torch.device = "cpu",
                    category_map: Sequence[int] | None = None, progress: bool = True,
                    gt: dict | None = None) -> ValResult:
    """As :func:`yololab.eval.validate.validate`, with each image sliced (``settings.batch_size`` slices per
    model call, each letterboxed to ``settings.image_size``) and its detections merged by ``slicing``.
    ``settings.max_det`` bounds each slice's detections, not the merged image's: a large image holds many
    images' worth of objects (COCO still scores ``settings.coco_max_det`` per image and class)."""
    if len(names) != model.num_classes:
        raise ValueError(f"the dataset has {len(names)} classes but the model predicts "
                         f"{model.num_classes}; pass weights trained for this dataset")
    if gt is not None and category_map is None:
        raise ValueError("scoring against an annotation file's ground truth needs its category ids (category_map)")
    slicing.check(int(getattr(model, "stride", 32)))
    frames: dict[str, tuple[float, float]] = {}
    if gt is not None:
        gt, ids_by_path, frames = _ground_truth(records, gt)
    else:
        ids_by_path = dict(zip((r.path for r in records), image_ids([r.path for r in records])))
    detector = ModelSliceDetector(model, settings.image_size, settings.conf_thres, settings.iou_thres,
                                  settings.max_det, device, pixels=settings.pixels)
    was_training = model.training
    model.eval()
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    for r in tqdm(records, desc="val --slice", disable=not progress, leave=False):
        dets = predict_sliced(read_image(r.path, settings.pixels), detector, slicing, settings.batch_size)
        if r.path in frames:
            sx, sy = frames[r.path]
            dets[:, [0, 2]] *= sx
            dets[:, [1, 3]] *= sy
        results.extend(detections_to_coco(ids_by_path[r.path], dets, category_map))
    seconds = time.perf_counter() - started
    if gt is None:
        gt = yolo_records_to_coco_gt(records, names, category_map)
    metrics = score_coco(gt, results, names=list(names) if category_map is None else None,
                         max_dets=settings.coco_max_det)
    model.train(was_training)
    return ValResult(metrics, results, gt, {"sliced": 1000 * seconds / max(len(records), 1)}, seconds)
