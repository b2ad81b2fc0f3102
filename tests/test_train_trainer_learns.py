"""Training from scratch learns: yolov5n on four synthetic images at 128 px (one batch per epoch).

The recipe memorises a tiny training set, so the mAP is measured on the training images: lr0 0.05 held
constant (lrf 1), no warm-up, no accumulation, no mosaic/scale/translate/HSV/flip. Over seeds 0-2 it
reaches mAP50 0.42-0.49 after 120 epochs (one thread); the assertions leave a wide margin.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml

from yololab.data import make_synthetic_dataset
from yololab.train.config import TrainConfig
from yololab.train.trainer import train


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP spin-waits make 2 threads far slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_yolov5n_from_scratch_learns_a_tiny_synthetic_set(tmp_path: Path) -> None:
    data = make_synthetic_dataset(tmp_path / "syn", num_train=4, num_val=1, img_size=128,
                                  classes=("square", "circle"), max_objects=3)
    spec = yaml.safe_load(data.read_text())
    spec["val"] = spec["train"]  # memorisation: score the training images
    data.write_text(yaml.safe_dump(spec))
    cfg = TrainConfig(model="yolov5n", data=str(data), imgsz=128, batch=4, epochs=120, workers=0,
                      out=str(tmp_path / "run"), seed=0, nominal_batch=4, val_every=60, progress=False,
                      plots=False, hyp={"lr0": 0.05, "lrf": 1.0, "warmup_epochs": 0.0},
                      augment={"mosaic": 0.0, "scale": 0.0, "translate": 0.0, "hsv_h": 0.0, "hsv_s": 0.0,
                               "hsv_v": 0.0, "fliplr": 0.0})
    summary = train(cfg)
    with open(tmp_path / "run" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    box = [float(r["train/box_loss"]) for r in rows]
    assert len(rows) == 120
    assert sum(box[-10:]) / 10 < 0.7 * sum(box[:10]) / 10, box  # the box loss falls clearly
    final = summary.final_metrics
    assert final["map50"] > 0.15, final  # an untrained model scores about 0.001
    assert summary.best_map50_95 is not None and summary.best_map50_95 > 0.03
