"""Optional experiment tracking (``pip install -e ".[tracking]"``): TensorBoard and MLflow, off by default.

The trainer calls :meth:`Tracking.epoch` once per epoch and :meth:`Tracking.finish` at the end, on
rank 0 only. Values are logged under their results.csv column names (``metrics/map50_95``,
``metrics/map50``, ``train/box_loss``, ``lr/...``) with the epoch as step, so every view of a run
uses the same names. TensorBoard writes its event files into the run folder itself (``tensorboard
--logdir runs/train`` lists runs by folder) and, every ``tensorboard_images_every`` epochs and at the
last, the EMA model's predictions on the first val images. MLflow uses a client (no global active
run), logs the run's parameters and, at the end, best.pt (or last.pt without one), results.csv,
the plots and config.yaml as artifacts.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yololab.errors import UserError
from yololab.train.config import TrainConfig

LOG = logging.getLogger("yololab")

#: How many val images TensorBoard shows predictions for; drawn above this confidence.
PREVIEW_IMAGES = 4
PREVIEW_CONF = 0.25
ARTIFACTS = ("results.csv", "results.png", "config.yaml", "data_report.json")


def _missing(package: str) -> UserError:
    return UserError(f"{package} is not installed: pip install -e \".[tracking]\" (or pip install {package})")


def run_params(cfg: TrainConfig) -> dict[str, str]:
    """What identifies a run: model, backbone, epochs, seed, init (weights, pretrained backbone or scratch)..."""
    init = cfg.weights or (f"pretrained_backbone:{cfg.pretrained_backbone}" if cfg.pretrained_backbone else "scratch")
    return {"model": cfg.model, "backbone": str(cfg.backbone or "native"), "epochs": str(cfg.epochs),
            "seed": str(cfg.seed), "init": str(init), "imgsz": str(cfg.imgsz), "batch": str(cfg.batch),
            "data": str(cfg.data), "optimizer_lr0": str(cfg.hyp.lr0), "assigner": cfg.assigner}


class TensorBoardTracker:
    def __init__(self, out: Path, images_every: int, names: Sequence[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _missing("tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(out))
        self.images_every, self.names = images_every, list(names)

    def epoch(self, step: int, row: dict[str, float], previews: list[np.ndarray] | None) -> None:
        for key, value in row.items():
            if not math.isnan(value):
                self.writer.add_scalar(key, value, step)
        for i, image in enumerate(previews or []):
            self.writer.add_image(f"val_predictions/{i}", image, step, dataformats="HWC")
        self.writer.flush()

    def finish(self, out: Path) -> None:
        self.writer.close()


def is_file_store(uri: str) -> bool:
    """A local MLflow file store: ``file:...`` or a plain path (no ``scheme://``)."""
    return uri.startswith("file:") or "://" not in uri


def allow_file_store(uri: str) -> None:
    """MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE=true``: set it for a file ``uri``
    (the store still works; MLflow recommends a database such as ``sqlite:///mlflow.db``)."""
    if is_file_store(uri) and "MLFLOW_ALLOW_FILE_STORE" not in os.environ:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        LOG.info("--mlflow %s: a file store (MLflow 3 keeps it in maintenance mode; for its newer features "
                 "use --mlflow sqlite:///mlflow.db)", uri)


class MLflowTracker:
    def __init__(self, uri: str, experiment: str, cfg: TrainConfig, out: Path) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _missing("mlflow") from None
        allow_file_store(uri)
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(experiment)
            exp_id = found.experiment_id if found else self.client.create_experiment(experiment)
            self.run_id = self.client.create_run(exp_id, run_name=out.name).info.run_id
        except Exception as err:  # noqa: BLE001 - MlflowException and store errors: fail before training
            raise UserError(f"--mlflow {uri}: cannot start a run ({err})") from None
        for key, value in run_params(cfg).items():
            self.client.log_param(self.run_id, key, value)

    def epoch(self, step: int, row: dict[str, float], previews: list[np.ndarray] | None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in row.items() if not math.isnan(v)]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, out: Path) -> None:
        best = out / "weights" / "best.pt"
        weights = best if best.is_file() else out / "weights" / "last.pt"
        for path in (weights, *(out / a for a in ARTIFACTS)):
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id)


class Tracking:
    """The trackers a run asked for (none by default): one call per epoch, one at the end."""

    def __init__(self, cfg: TrainConfig, out: Path, names: Sequence[str], pixels: Any = None) -> None:
        self.cfg, self.out, self.names, self.pixels = cfg, out, list(names), pixels
        self.trackers: list[Any] = []
        self.images_every = int(cfg.tensorboard_images_every)
        if self.images_every < 0:
            raise UserError(f"tensorboard_images_every must be >= 0, got {self.images_every}")
        if cfg.tensorboard:
            self.trackers.append(TensorBoardTracker(out, self.images_every, names))
        if cfg.mlflow:
            self.trackers.append(MLflowTracker(cfg.mlflow, cfg.mlflow_experiment, cfg, out))

    def epoch(self, epoch: int, row: dict[str, float], model: torch.nn.Module | None = None,
              val_paths: Sequence[str] = ()) -> None:
        """Log one epoch's results.csv row; draw predictions of ``model`` on the first val images when due."""
        if not self.trackers:
            return
        due = (self.cfg.tensorboard and self.images_every > 0 and model is not None
               and ((epoch + 1) % self.images_every == 0 or epoch + 1 == self.cfg.epochs))
        previews = draw_predictions(model, val_paths[:PREVIEW_IMAGES], self.cfg.imgsz, self.names,
                                    self.pixels) if due else None
        for t in self.trackers:
            t.epoch(epoch, row, previews)

    def finish(self) -> None:
        for t in self.trackers:
            try:
                t.finish(self.out)
            except Exception as err:  # noqa: BLE001 - tracking must never fail a finished run
                LOG.warning("tracking (%s) could not finish: %s", type(t).__name__, err)


@torch.no_grad()
def draw_predictions(model: torch.nn.Module, paths: Sequence[str], imgsz: int,
                     names: Sequence[str], pixels: Any = None) -> list[np.ndarray]:
    """Letterboxed RGB images with the model's detections (conf >= PREVIEW_CONF) drawn on them (images
    that are not 8-bit RGB are shown as 8-bit, their first channel or first three)."""
    import cv2

    from yololab.data import letterbox, read_image
    from yololab.data.imaging.pixels import normalize_batch, preview_rgb
    from yololab.eval.nms import non_max_suppression

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for path in paths:
        image = np.ascontiguousarray(letterbox(read_image(path, pixels), imgsz, auto=False)[0])
        x = normalize_batch(torch.from_numpy(image).permute(2, 0, 1)[None].to(device), pixels)
        image = preview_rgb(image)
        det = non_max_suppression(model.decode(model(x)).float(), PREVIEW_CONF, 0.6, 100)[0].cpu().numpy()
        for x1, y1, x2, y2, conf, cls in det.tolist():
            cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), (255, 56, 56), 1)
            label = f"{names[int(cls)] if int(cls) < len(names) else int(cls)} {conf:.2f}"
            cv2.putText(image, label, (int(x1), max(int(y1) - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 56, 56), 1)
        out.append(image)
    model.train(was_training)
    return out
