"""Sliced prediction of one image: its slices run through any detector in batches, then are merged.

A detector is any callable taking a list of RGB uint8 (h, w, 3) images and returning one (n, 6) array
per image (x1, y1, x2, y2 in that image's pixels, score, class): ``yololab.deploy.runtime.pipeline.Predictor``
(every backend) is one, :class:`ModelSliceDetector` (a model as ``yololab val`` runs it) another.
Slices are views of the image, never copies: the detector letterboxes each to the model's size.

    from yololab.deploy.runtime.pipeline import Predictor
    from yololab.eval.sliced import predict_sliced
    from yololab.eval.slicing import SliceSettings
    dets = predict_sliced(image, Predictor("yolov5n.pt"), SliceSettings(640))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from yololab.data.augment import letterbox
from yololab.data.imaging.pixels import PixelSpec, normalize_batch
from yololab.eval.boxes import scale_boxes
from yololab.eval.nms import non_max_suppression
from yololab.eval.protocol import ValModel
from yololab.eval.slicing import SliceSettings, merge_detections, slice_grid

SliceDetector = Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]]


def slice_detections(image: np.ndarray, detect: SliceDetector, settings: SliceSettings,
                     batch: int = 8) -> np.ndarray:
    """The unmerged (n, 6) float64 detections of every slice (and of the whole-image pass), shifted to the
    image's pixels, in slice order."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    h, w = image.shape[:2]
    grid = slice_grid(h, w, settings.size, settings.overlap)
    parts = []
    for start in range(0, len(grid), batch):
        boxes = grid[start:start + batch]
        crops = [image[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes.tolist()]
        for (x0, y0, _, _), det in zip(boxes.tolist(), detect(crops)):
            det = np.array(det, np.float64).reshape(-1, 6)
            det[:, [0, 2]] += x0
            det[:, [1, 3]] += y0
            parts.append(det)
    if settings.full_pass and len(grid) > 1:
        parts.append(np.asarray(detect([image])[0], np.float64).reshape(-1, 6))
    return np.concatenate(parts) if parts else np.zeros((0, 6))


def predict_sliced(image: np.ndarray, detect: SliceDetector, settings: SliceSettings, batch: int = 8,
                   max_det: int | None = None) -> np.ndarray:
    """(m, 6) float64 merged detections of ``image`` in its pixels, by descending score (at most
    ``max_det``)."""
    dets = slice_detections(image, detect, settings, batch)
    merged = merge_detections(dets, settings.merge, settings.metric, settings.threshold, settings.class_agnostic)
    return merged if max_det is None else merged[:max_det]


class ModelSliceDetector:
    """A :class:`ValModel` as a slice detector: each image letterboxed to ``imgsz`` x ``imgsz`` (grey
    padding, centred), one batch, decode, NMS, boxes back in each image's pixels."""

    def __init__(self, model: ValModel, imgsz: int, conf: float = 0.001, iou: float = 0.6, max_det: int = 300,
                 device: str | torch.device = "cpu", multi_label: bool = True, pixels: PixelSpec | None = None) -> None:
        self.model, self.imgsz, self.device, self.pixels = model, imgsz, torch.device(device), pixels
        self.conf, self.iou, self.max_det, self.multi_label = conf, iou, max_det, multi_label

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        boxed = [letterbox(im, self.imgsz, auto=False) for im in images]
        x = normalize_batch(torch.from_numpy(np.stack([b[0] for b in boxed])).to(self.device).permute(0, 3, 1, 2),
                            self.pixels)
        pred = self.model.decode(self.model(x)).float()
        dets = non_max_suppression(pred, self.conf, self.iou, self.max_det, multi_label=self.multi_label)
        out = []
        for det, im, (_, ratio, pad) in zip(dets, images, boxed):
            det = det.cpu().numpy().astype(np.float64)
            det[:, :4] = scale_boxes(det[:, :4], x.shape[2:], im.shape[:2], ((ratio[1], ratio[0]), pad))
            out.append(det)
        return out
