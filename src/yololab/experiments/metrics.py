"""A cell's scored numbers (size, cost, accuracy, training): its metrics.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ACCURACY_KEYS = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large")
TRAIN_KEYS = ("train_seconds", "images_per_second", "peak_memory_mb", "epochs_run", "best_map50_95")


def evaluate_cell(weights: Path, train: dict[str, Any], data: str, imgsz: int, batch: int = 16,
                  device: str = "cpu", workers: int = 2, progress: bool = False,
                  split: str = "val", image_dir: str | None = None) -> tuple[dict[str, Any], list[dict], dict]:
    """Parameters, fused GFLOPs at ``imgsz`` and COCO mAPs of a cell's checkpoint on ``split``;
    ``train`` is what the trainer reported (train.json).

    Returns (row, COCO result dicts, COCO ground truth): the last two are kept for the bootstrap.
    Every cell is scored here by the same evaluator at the same size, whatever the trainer logged.
    """
    import torch

    from yololab.data.source import open_split
    from yololab.eval.validate import ValSettings, validate
    from yololab.models.checkpoints import load_model
    from yololab.models.flops import count_gflops

    model = load_model(weights)
    counts = model.parameter_counts()
    gflops = count_gflops(model, imgsz, fuse=True)
    scoring = open_split(data, split, image_dir, log=False)  # YOLO YAML or VOC (scored against its own ground truth)
    records = scoring.records
    torch_device = torch.device("cuda:" + device if device.isdigit() else device)
    model = model.to(torch_device).fuse().channels_last()
    result = validate(model, records, scoring.names, ValSettings(image_size=imgsz, batch_size=batch,
                                                                  workers=workers),
                      torch_device, progress=progress, category_map=scoring.category_ids, gt=scoring.coco_gt)
    metrics = result.metrics
    row: dict[str, Any] = {**counts, "gflops": round(gflops, 4), "eval_imgsz": imgsz, "weights": weights.name,
                           "score_split": split, "num_score_images": len(records)}
    if split == "val":
        row["num_val_images"] = len(records)
    row.update({k: getattr(metrics, k) for k in ACCURACY_KEYS})  # None: no ground truth of that size
    row["per_class"] = {name: {"ap50_95": c.ap50_95, "ap50": c.ap50, "instances": c.instances}
                        for name, c in metrics.per_class.items()}
    row.update({k: train.get(k) for k in TRAIN_KEYS})
    row["train_device"] = _device_name(torch_device)
    return row, result.detections, result.ground_truth


def _device_name(device: Any) -> str:
    from yololab.hardware import cpu_name, cuda_name

    return cuda_name(device.index or 0) if device.type == "cuda" else cpu_name()
