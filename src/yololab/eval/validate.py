"""The validation loop: letterboxed batches -> model -> decode -> NMS -> COCO-protocol metrics."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from yololab.data import DetectionDataset, ImageRecord, create_dataloader
from yololab.data.corrupted import CorruptedDataset, CorruptionSpec
from yololab.data.imaging.pixels import PixelSpec, normalize_batch
from yololab.errors import UserError
from yololab.eval.boxes import scale_boxes
from yololab.eval.coco import (
    detections_to_coco,
    image_ids,
    restrict_gt,
    score_coco,
    yolo_records_to_coco_gt,
)
from yololab.eval.nms import non_max_suppression
from yololab.eval.protocol import ValModel, input_hw
from yololab.eval.results import CocoMetrics, ValResult

LOG = logging.getLogger("yololab")


@dataclass
class ValSettings:
    """Upstream val.py defaults (conf 0.001, NMS IoU 0.6, 300 detections, pad 0.5), except that every image
    is letterboxed to its own shape, so the scores do not depend on the batch size."""

    image_size: int = 640
    batch_size: int = 16
    conf_thres: float = 0.001
    iou_thres: float = 0.6
    max_det: int = 300
    workers: int = 2
    half: bool = False
    rect: bool = True  # each image at its own letterbox shape; False: square at image_size (fixed-shape exports)
    #: upstream val.py's batch-dependent rect batches (each batch padded to its most extreme image): for
    #: reproducing upstream's figures only, since an image's detections then depend on its batch neighbours
    rect_batches: bool = False
    coco_max_det: int = 100  # detections per image the COCO protocol scores (VisDrone's tools: 500)
    #: score the images under this corruption (made in the loader at full size, then letterboxed)
    corruption: CorruptionSpec | None = None
    #: how the images are decoded and normalised (the data YAML's, with the checkpoint's normalisation);
    #: None: 3-channel photos, dtype normalisation
    pixels: PixelSpec | None = None


def make_val_loader(records: Sequence[ImageRecord], settings: ValSettings, stride: int = 32):
    kwargs = dict(augment=False, rect=settings.rect, batch_size=settings.batch_size, stride=stride, pad=0.5,
                  rect_batches=settings.rect_batches)
    if settings.corruption is not None:
        if settings.pixels is not None and not settings.pixels.is_default:
            raise UserError("corruptions are made on 8-bit RGB photos; this data set has channels: "
                            f"{settings.pixels.channels}, normalize: {settings.pixels.normalize}")
        dataset = CorruptedDataset(records, settings.corruption, settings.image_size, **kwargs)
    else:
        dataset = DetectionDataset(records, settings.image_size, pixels=settings.pixels, **kwargs)
    return create_dataloader(dataset, settings.batch_size, shuffle=False, workers=settings.workers)


@torch.no_grad()
def predict_dataset(model: ValModel, loader, settings: ValSettings, device: torch.device,
                    ids_by_path: dict[str, Any], category_map: Sequence[int] | None = None,
                    progress: bool = True, frames: dict[str, tuple[float, float]] | None = None,
                    ) -> tuple[list[dict], dict[str, float]]:
    """COCO results for every image of ``loader`` plus per-image timings (ms).

    ``frames`` maps a path to the (x, y) factors from the image file to the ground truth's frame (an
    annotation file made for another size of the image); boxes are in the file's pixels otherwise.
    """
    results: list[dict] = []
    times = {"preprocess": 0.0, "inference": 0.0, "nms": 0.0}
    count = 0
    dtype = torch.float16 if settings.half else torch.float32
    for images, _, paths, shapes in tqdm(loader, desc="val", disable=not progress, leave=False):
        t0 = time.perf_counter()
        x = normalize_batch(images.to(device, non_blocking=True), settings.pixels, dtype)
        t1 = time.perf_counter()
        pred = model.decode(model(x)).float()
        t2 = time.perf_counter()
        detections = non_max_suppression(pred, settings.conf_thres, settings.iou_thres, settings.max_det,
                                          multi_label=True)
        t3 = time.perf_counter()
        times["preprocess"] += t1 - t0
        times["inference"] += t2 - t1
        times["nms"] += t3 - t2
        count += len(paths)
        for det, path, (shape0, ratio_pad) in zip(detections, paths, shapes):
            det = det.clone()
            det[:, :4] = scale_boxes(det[:, :4], x.shape[2:], shape0, ratio_pad)
            if frames and path in frames:
                sx, sy = frames[path]
                det[:, [0, 2]] *= sx
                det[:, [1, 3]] *= sy
            results.extend(detections_to_coco(ids_by_path[path], det.cpu(), category_map))
    return results, {k: 1000 * v / max(count, 1) for k, v in times.items()}


def _ground_truth(records: Sequence[ImageRecord], gt: dict) -> tuple[dict, dict[str, Any], dict]:
    """A data set's own ground truth limited to the scored ``records`` (left-out images named in a
    warning), their image ids by path and the factors to its frame where the file's size differs."""
    if any(r.image_id is None for r in records):
        raise ValueError("records without image ids cannot be scored against an annotation file's ground truth")
    ids_by_path = {r.path: r.image_id for r in records}
    gt, left_out = restrict_gt(gt, list(ids_by_path.values()))
    if left_out:
        shown = ", ".join(left_out[:5]) + (", ..." if len(left_out) > 5 else "")
        LOG.warning("%d of %d images of the annotation file could not be scored (see the dataset report) "
                    "and are left out of the ground truth: %s", len(left_out), len(left_out) + len(records), shown)
    listed = {im["id"]: im for im in gt["images"]}
    frames = {}
    for r in records:
        w, h = listed[r.image_id].get("width") or r.width, listed[r.image_id].get("height") or r.height
        if (w, h) != (r.width, r.height):
            frames[r.path] = (w / r.width, h / r.height)
    return gt, ids_by_path, frames


def validate(model: ValModel, records: Sequence[ImageRecord], names: Sequence[str],
             settings: ValSettings | None = None, device: str | torch.device = "cpu",
             category_map: Sequence[int] | None = None, progress: bool = True,
             gt: dict | None = None) -> ValResult:
    """COCO metrics of ``model`` on ``records`` with the detections and ground truth they come from (the
    model is used as given: fuse it first for speed).

    ``model`` is anything that fits :class:`~yololab.eval.protocol.ValModel` (a Detector, or an export
    opened by ``yololab.deploy.runtime.model_adapter``); a fixed-shape export is scored with square letterboxed
    batches. ``gt`` is the data set's own COCO ground truth (a COCO JSON's ``DataSplit.coco_gt``): it is
    scored as written (crowd regions, areas, image ids; ``category_map`` gives its category ids), so
    the result equals pycocotools on that file and the detections. Without it the ground truth is built
    from the records' labels with the YOLO-format conventions of :func:`image_ids`.
    """
    settings = settings or ValSettings()
    if input_hw(model) and settings.rect:  # a fixed-shape export cannot take rect batches
        LOG.info("fixed-shape export %s: square letterboxed batches (rect=False)", input_hw(model))
        settings = dataclasses.replace(settings, rect=False)
    device = torch.device(device)
    if len(names) != model.num_classes:
        raise ValueError(f"the dataset has {len(names)} classes but the model predicts "
                         f"{model.num_classes}; pass weights trained for this dataset")
    if gt is not None and category_map is None:
        raise ValueError("scoring against an annotation file's ground truth needs its category ids (category_map)")
    frames: dict[str, tuple[float, float]] = {}
    if gt is not None:
        gt, ids_by_path, frames = _ground_truth(records, gt)
    else:
        ids_by_path = dict(zip((r.path for r in records), image_ids([r.path for r in records])))
    was_training = model.training
    model.eval()
    stride = int(getattr(model, "stride", 32))
    loader = make_val_loader(records, settings, stride)
    started = time.perf_counter()
    results, times = predict_dataset(model, loader, settings, device, ids_by_path, category_map, progress, frames)
    if gt is None:
        gt = yolo_records_to_coco_gt(records, names, category_map)
    metrics = score_coco(gt, results, names=list(names) if category_map is None else None,
                         max_dets=settings.coco_max_det)
    model.train(was_training)
    return ValResult(metrics, results, gt, times, time.perf_counter() - started)


def _num(value: float | None, width: int) -> str:
    return f"{'–':>{width}}" if value is None else f"{value:>{width}.3f}"


def format_metrics(metrics: CocoMetrics, per_class: bool = False,
                   speed: dict[str, float] | None = None) -> str:
    """A compact text table like upstream's val printout ('–' where COCO has no value)."""
    lines = [f"{'images':>8}{'instances':>11}{'mAP50':>9}{'mAP75':>9}{'mAP50-95':>10}{'APt':>7}{'APs':>7}{'APm':>7}"
             f"{'APl':>7}"]
    instances = sum(c.instances for c in metrics.per_class.values())
    lines.append(f"{metrics.num_images:>8}{instances:>11}{metrics.map50:>9.3f}{metrics.map75:>9.3f}"
                 f"{metrics.map50_95:>10.3f}{_num(metrics.map_tiny, 7)}{_num(metrics.map_small, 7)}{_num(metrics.map_medium, 7)}"
                 f"{_num(metrics.map_large, 7)}")
    if per_class:
        lines.append(f"{'class':>20}{'instances':>11}{'AP50':>8}{'AP50-95':>9}")
        for name, c in metrics.per_class.items():
            lines.append(f"{name:>20}{c.instances:>11}{c.ap50:>8.3f}{c.ap50_95:>9.3f}")
    if speed:
        lines.append("speed: " + ", ".join(f"{k} {v:.1f} ms" for k, v in speed.items()) + " per image")
    return "\n".join(lines)
