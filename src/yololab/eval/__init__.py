"""Evaluation: box utilities, YOLOv5-style NMS, COCO-protocol metrics (faster-coco-eval), the
validation loop and ``yololab val``. Names are imported on first use (no torch for ``--help``)."""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    **dict.fromkeys(("clip_boxes", "letterbox_params", "scale_boxes", "xywh2xyxy", "xyxy2ltwh", "xyxy2xywh"),
                    "yololab.eval.boxes"),
    **dict.fromkeys(("coco80_to_coco91", "detections_to_coco", "evaluate_coco", "evaluate_files", "image_ids",
                     "score_coco", "yolo_records_to_coco_gt"), "yololab.eval.coco"),
    "non_max_suppression": "yololab.eval.nms",
    "ValModel": "yololab.eval.protocol",
    **dict.fromkeys(("ValSettings", "validate"), "yololab.eval.validate"),
    **dict.fromkeys(("ImageMatches", "bootstrap_map", "bootstrap_matches", "format_bootstrap", "map_many",
                     "resample_weights"), "yololab.eval.bootstrap"),
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
