"""Per-epoch bookkeeping: ``results.csv``, fitness and early stopping."""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from yololab.atomic import FileIdentity, append_text, atomic_write_text, file_identity

LOG = logging.getLogger("yololab")

LOSS_COLUMNS = ("train/box_loss", "train/obj_loss", "train/cls_loss")
METRIC_COLUMNS = ("metrics/map50", "metrics/map50_95", "metrics/map75", "fitness")


def fitness(metrics: Mapping[str, float]) -> float:
    """Upstream YOLOv5's model fitness: 0.1 * mAP50 + 0.9 * mAP50-95."""
    return 0.1 * float(metrics["map50"]) + 0.9 * float(metrics["map50_95"])


def epoch_row(losses: Sequence[float], metrics: Mapping[str, float] | None, lrs: Mapping[str, float],
              seconds: float) -> dict[str, float]:
    """One epoch's values by results.csv column (metric columns only when it was validated): the names
    every tracker logs too."""
    row = {c: float(v) for c, v in zip(LOSS_COLUMNS, losses)}
    if metrics is not None:
        row.update({"metrics/map50": float(metrics["map50"]), "metrics/map50_95": float(metrics["map50_95"]),
                    "metrics/map75": float(metrics["map75"]), "fitness": fitness(metrics)})
    row.update({f"lr/{k}": float(v) for k, v in lrs.items()})
    row["epoch_seconds"] = float(seconds)
    return row


class ResultsCSV:
    """``results.csv``: one row per epoch (losses, metrics, learning rates, seconds).

    Epochs without validation leave the metric cells empty. Rows are appended only to the file
    :meth:`start` created (one replaced meanwhile, or given a second hard link, is refused). On resume, rows of epochs that will be
    trained again (a kill between writing the row and the checkpoint) are dropped first.
    """

    def __init__(self, path: str | Path, lr_names: Sequence[str], root: str | Path | None = None) -> None:
        self.path, self.root = Path(path), root
        self.identity: FileIdentity | None = None  # the file start() created: the only one appended to
        self.columns = ["epoch", *LOSS_COLUMNS, *METRIC_COLUMNS, *(f"lr/{n}" for n in lr_names), "epoch_seconds"]

    def start(self, start_epoch: int) -> None:
        """A fresh file at epoch 0, or the rows before ``start_epoch`` kept when resuming."""
        kept: list[dict[str, str]] = []
        if start_epoch > 0 and self.path.is_file():
            with open(self.path, newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row.get("epoch", -1)) < start_epoch]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path, text.getvalue(), self.root)
        self.identity = file_identity(self.path)

    def append(self, epoch: int, losses: Sequence[float], metrics: Mapping[str, float] | None,
               lrs: Mapping[str, float], seconds: float) -> None:
        values = epoch_row(losses, metrics, lrs, seconds)
        row: dict[str, object] = {"epoch": epoch, "epoch_seconds": f"{seconds:.2f}"}
        row.update({c: f"{values[c]:.5f}" for c in (*LOSS_COLUMNS, *METRIC_COLUMNS) if c in values})
        row.update({c: f"{v:.6g}" for c, v in values.items() if c.startswith("lr/")})
        text = io.StringIO(newline="")
        csv.DictWriter(text, fieldnames=self.columns, extrasaction="ignore").writerow(row)
        append_text(self.path, text.getvalue(), self.root, self.identity)


def read_results(path: str | Path) -> dict[str, list[float]]:
    """Columns of a results.csv as float lists (empty cells are NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: [float(r[k]) if r.get(k) not in (None, "") else math.nan for r in rows] for k in rows[0]}


class EarlyStopping:
    """Stop when fitness has not improved for ``patience`` epochs (upstream's rule; >= counts as improved)."""

    def __init__(self, patience: int = 100, best_fitness: float = 0.0, best_epoch: int = 0) -> None:
        self.patience = patience if patience > 0 else math.inf
        self.best_fitness = best_fitness
        self.best_epoch = best_epoch

    def __call__(self, epoch: int, fitness_value: float) -> bool:
        if fitness_value >= self.best_fitness:
            self.best_epoch, self.best_fitness = epoch, fitness_value
        stop = (epoch - self.best_epoch) >= self.patience
        if stop:
            LOG.info("early stopping: no improvement in the last %s epochs; best epoch %d (fitness %.4f)",
                     self.patience, self.best_epoch, self.best_fitness)
        return stop
