"""Scoring a cell's checkpoint under every corruption x severity of ``robustness:`` (COCO-C protocol).

One scoring pass per corruption and severity, the images corrupted in the loader workers
(:class:`yololab.data.corrupted.CorruptedDataset`), never written to disk. Each pass's per-image COCO
matches are saved beside the clean ones, so the report re-weights them for Δ mPC and never matches again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

from yololab.experiments.plan.robustness_spec import RobustnessSpec
from yololab.experiments.results.records import Robustness

LOG = logging.getLogger("yololab")

#: ``save(corruption, severity, ground_truth, detections)``: called after each pass (the cell saves its matches)
SavePass = Callable[[str, int, dict, list], None]


def score_robustness(weights: Path, data: str, split: str, image_dir: str | None, imgsz: int, batch: int,
                     device: str, workers: int, spec: RobustnessSpec, clean_map: float | None,
                     save: SavePass | None = None, progress: bool = False) -> Robustness[float]:
    """mAP50-95 of ``weights`` on ``split`` under each (corruption, severity) of ``spec``, with mPC and
    rPC (None with no clean mAP); scored like the clean pass (same size, batch and thresholds)."""
    import torch

    from yololab.data.corrupted import CorruptionSpec
    from yololab.data.source import open_split
    from yololab.eval.validate import ValSettings, validate
    from yololab.models.checkpoints import load_model

    torch_device = torch.device("cuda:" + device if device.isdigit() else device)
    model = load_model(weights).to(torch_device).fuse().channels_last()
    scoring = open_split(data, split, image_dir, log=False)
    settings = ValSettings(image_size=imgsz, batch_size=batch, workers=workers)
    table: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for corruption, severity in spec.pairs():
        result = validate(model, scoring.records, scoring.names,
                          dataclasses.replace(settings, corruption=CorruptionSpec(corruption, severity, spec.seed)),
                          torch_device, progress=progress, category_map=scoring.category_ids, gt=scoring.coco_gt)
        table.setdefault(corruption, {})[str(severity)] = float(result.metrics.map50_95)
        if save is not None:
            save(corruption, severity, result.ground_truth, result.detections)
    values = [v for row in table.values() for v in row.values()]
    mpc = sum(values) / len(values)
    LOG.info("mPC %.4f over %d corrupted scoring passes in %.0f s", mpc, len(values), time.perf_counter() - started)
    rpc = mpc / clean_map if clean_map else None
    return Robustness(mpc=mpc, rpc=rpc, corruption_ap=table, corruption_seed=spec.seed)
