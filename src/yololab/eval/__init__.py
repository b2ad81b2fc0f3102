"""Evaluation: box utilities, YOLOv5-style NMS and COCO-protocol metrics (faster-coco-eval) and its image bootstrap."""

from yololab.eval.bootstrap import (
    ImageMatches,
    bootstrap_map,
    bootstrap_matches,
    format_bootstrap,
    map_many,
    resample_weights,
)
from yololab.eval.boxes import clip_boxes, letterbox_params, scale_boxes, xywh2xyxy, xyxy2ltwh, xyxy2xywh
from yololab.eval.coco import (
    coco80_to_coco91,
    detections_to_coco,
    evaluate_coco,
    evaluate_files,
    image_ids,
    yolo_records_to_coco_gt,
)
from yololab.eval.nms import non_max_suppression

__all__ = [
    "ImageMatches",
    "bootstrap_map",
    "bootstrap_matches",
    "format_bootstrap",
    "map_many",
    "resample_weights",
    "clip_boxes",
    "letterbox_params",
    "scale_boxes",
    "xywh2xyxy",
    "xyxy2ltwh",
    "xyxy2xywh",
    "coco80_to_coco91",
    "detections_to_coco",
    "evaluate_coco",
    "evaluate_files",
    "image_ids",
    "yolo_records_to_coco_gt",
    "non_max_suppression",
]
