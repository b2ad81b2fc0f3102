"""Scoring a cell's checkpoint (size, cost, accuracy, training): the figures of its metrics.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yololab.experiments.results.records import SCORED_MAPS, Accuracy, Cost, Provenance
from yololab.train.contract import TrainSummary

if TYPE_CHECKING:
    from yololab.eval.slicing import SliceSettings

TRAIN_COST_KEYS = ("train_seconds", "images_per_second", "peak_memory_mb", "epochs_run")


@dataclass(frozen=True)
class CellScore:
    """A checkpoint scored on a split: its figures and the COCO data they come from (for the bootstrap,
    the matches and the error analysis). ``provenance`` says how it was scored, not yet which files."""

    accuracy: Accuracy[float]
    cost: Cost[float]
    provenance: Provenance
    detections: list[dict]
    ground_truth: dict


def evaluate_cell(weights: Path, train: TrainSummary, data: str, imgsz: int, batch: int = 16,
                  device: str = "cpu", workers: int = 2, progress: bool = False,
                  split: str = "val", image_dir: str | None = None, slicing: SliceSettings | None = None,
                  max_det: int | None = None) -> CellScore:
    """Parameters, fused GFLOPs at ``imgsz`` and COCO mAPs of a cell's checkpoint on ``split``;
    ``train`` is what the trainer reported (its cost figures and best val mAP go into the cell's record).
    ``slicing``: each image predicted slice by slice and scored on the full image (``yololab val --slice``);
    ``max_det``: detections per image COCO scores (default 100; NMS then keeps at least as many).

    Every cell is scored here by the same evaluator at the same size, whatever the trainer logged.
    """
    import torch

    from yololab.data.imaging.pixels import checkpoint_pixels, model_pixels
    from yololab.data.source import open_split
    from yololab.eval.validate import validate
    from yololab.models.checkpoints import load_model
    from yololab.models.flops import count_gflops

    model = load_model(weights)
    counts = model.parameter_counts()
    gflops = count_gflops(model, imgsz, fuse=True)
    scoring = open_split(data, split, image_dir, log=False)  # YOLO YAML or VOC (scored against its own ground truth)
    records = scoring.records
    torch_device = torch.device("cuda:" + device if device.isdigit() else device)
    model = model.to(torch_device).fuse().channels_last()
    pixels = model_pixels(scoring.pixels, checkpoint_pixels(weights), str(weights))
    settings = dataclasses.replace(scoring_settings(imgsz, batch, workers, max_det),
                                   pixels=None if pixels.is_default else pixels)
    if slicing is not None:
        from yololab.eval.sliced_val import validate_sliced

        result = validate_sliced(model, records, scoring.names, settings, slicing, torch_device, progress=progress,
                                 category_map=scoring.category_ids, gt=scoring.coco_gt)
    else:
        result = validate(model, records, scoring.names, settings, torch_device, progress=progress,
                          category_map=scoring.category_ids, gt=scoring.coco_gt)
    metrics = result.metrics
    accuracy = Accuracy(**{k: getattr(metrics, k) for k in SCORED_MAPS},  # None: no ground truth of that size
                        best_map50_95=train.best_map50_95,
                        per_class=dict(metrics.per_class))
    cost = Cost(**counts, gflops=round(gflops, 4), **{k: getattr(train, k) for k in TRAIN_COST_KEYS})
    provenance = Provenance(eval_imgsz=imgsz, weights=weights.name, score_split=split,
                            num_score_images=len(records), num_val_images=len(records) if split == "val" else None,
                            train_device=_device_name(torch_device))
    return CellScore(accuracy, cost, provenance, result.detections, result.ground_truth)


def scoring_settings(imgsz: int, batch: int = 16, workers: int = 2, max_det: int | None = None) -> Any:
    """Val's settings for a cell: COCO scores ``max_det`` detections per image (default 100), and NMS keeps
    at least that many (val's 300 otherwise)."""
    from yololab.eval.validate import ValSettings

    base = ValSettings(image_size=imgsz, batch_size=batch, workers=workers)
    if max_det is None:
        return base
    return dataclasses.replace(base, coco_max_det=max_det, max_det=max(base.max_det, max_det))


def _device_name(device: Any) -> str:
    from yololab.hardware import cpu_name, cuda_name

    return cuda_name(device.index or 0) if device.type == "cuda" else cpu_name()
