"""Per-cell numbers (size, cost, accuracy, training) and their mean/std over seeds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ACCURACY_KEYS = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large")
TRAIN_KEYS = ("train_seconds", "images_per_second", "peak_memory_mb", "epochs_run", "best_map50_95")
# Numeric columns aggregated over seeds (mean, std, n).
AGGREGATED_KEYS = ("params", "backbone_params", "adapter_params", "gflops", *ACCURACY_KEYS, *TRAIN_KEYS,
                   "latency_torch_cpu_ms", "latency_onnxruntime_cpu_ms", "latency_cuda_fp16_ms",
                   "fps_torch_cpu", "fps_onnxruntime_cpu", "fps_cuda_fp16")


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

#: the reason a cell's latency figure is unreliable (see ``latency.unreliable_reason``), per backend
UNRELIABLE_KEYS = ("latency_torch_cpu_unreliable", "latency_onnxruntime_cpu_unreliable", "latency_cuda_fp16_unreliable")


def _numbers(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


TUNING_KEYS = ("tuned", "tune_trials", "tune_pruned", "tune_failed", "tune_epochs", "tune_seconds", "tune_device",
               "tune_best_val")


def aggregate_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, backbone) over its finished seeds: ``key`` = mean, ``key_std``, ``n_seeds``.

    std is the sample standard deviation (n - 1); None with a single seed.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row.get("status") == "done":
            groups.setdefault((row["model"], row["backbone"]), []).append(row)
    out = []
    for (model, backbone), members in groups.items():
        first = members[0]
        agg: dict[str, Any] = {"row_type": "mean", "cell_id": f"{model}_{backbone}_mean", "model": model,
                               "backbone": backbone, "status": "done", "n_seeds": len(members),
                               "seeds": [m["seed"] for m in members]}
        for key in ("backbone_name", "native", "init", "pretrained", "freeze", "backbone_lr_mult", "eval_imgsz"):
            agg[key] = first.get(key)
        agg.update({k: first[k] for k in TUNING_KEYS if k in first})  # one study per entry: the same for all seeds
        for key in AGGREGATED_KEYS:
            values = _numbers(m.get(key) for m in members)
            if values:
                agg[key] = statistics.fmean(values)
                agg[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
        for key in UNRELIABLE_KEYS:  # a mean over seeds is unreliable when one of its figures is
            agg[key] = next((m[key] for m in members if m.get(key)), None)
        agg["per_class"] = _mean_per_class(members)
        out.append(agg)
    return out


def _mean_per_class(members: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per-class AP50-95 and AP50 averaged over seeds (class order of the first member)."""
    names: list[str] = []
    for m in members:
        names += [n for n in (m.get("per_class") or {}) if n not in names]
    out = {}
    for name in names:
        entry = {}
        for key in ("ap50_95", "ap50"):
            values = _numbers((m.get("per_class") or {}).get(name, {}).get(key) for m in members)
            entry[key] = statistics.fmean(values) if values else None
        counts = [(m.get("per_class") or {}).get(name, {}).get("instances") for m in members]
        entry["instances"] = next((c for c in counts if c is not None), None)  # the same split for every seed
        out[name] = entry
    return out
