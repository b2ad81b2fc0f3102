"""A stand-in for ``yololab.train.trainer.train`` that trains nothing (``yololab compare --dry-run``).

It follows the trainer's contract (:class:`~yololab.train.contract.Trainer`) -- builds the cell's model
(backbone, pretrained weights, class count), saves it as weights/{last,best}.pt with config.yaml and a
results.csv, returns a :class:`~yololab.train.contract.TrainSummary` -- so a spec, the cell plumbing, the evaluation and the report can be checked in seconds
before committing hours of training. The scores in a dry-run report are those of untrained models.
"""

from __future__ import annotations

import csv
import io
import resource
import time
from pathlib import Path

from yololab.atomic import atomic_write_text
from yololab.train.config import TrainConfig
from yololab.train.contract import EpochHook, TrainSummary


def train(cfg: TrainConfig, on_epoch_end: EpochHook | None = None) -> TrainSummary:
    """Build and save the untrained model where the trainer would save the trained one (no epochs, so
    ``on_epoch_end`` is never called)."""
    import torch

    from yololab.config import save_yaml_config
    from yololab.data.source import dataset_names, dataset_pixels
    from yololab.models import build_model
    from yololab.models.checkpoints import save_model

    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    names = dataset_names(cfg.data)
    model = build_model(cfg.model, cfg.backbone, len(names), pretrained_backbone=cfg.pretrained_backbone,
                        names=names, in_channels=dataset_pixels(cfg.data).channels)
    out = Path(cfg.out)
    save_yaml_config(cfg, out / "config.yaml", out)
    # epoch -1: no epoch finished (a resume would start at epoch 0)
    save_model(model, out / "weights" / "last.pt", epoch=-1, dry_run=True)
    save_model(model, out / "weights" / "best.pt", epoch=-1, dry_run=True)
    header = io.StringIO(newline="")
    csv.writer(header).writerow(["epoch", "train/box_loss", "train/obj_loss", "train/cls_loss",
                                 "metrics/map50", "metrics/map50_95"])
    atomic_write_text(out / "results.csv", header.getvalue(), out)
    return TrainSummary(out=str(out), last=str(out / "weights" / "last.pt"), best=str(out / "weights" / "best.pt"),
                        best_map50_95=0.0, train_seconds=time.perf_counter() - started, images_per_second=0.0,
                        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, epochs_run=0,
                        dry_run=True)
