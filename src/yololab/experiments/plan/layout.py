"""Where a comparison keeps its files.

Layout of ``out_dir/cells/<cell_id>/``::

    cell.yaml      the cell (model, backbone entry, seed) and its resolved TrainConfig
    weights/       written by the trainer (best.pt, last.pt); last.pt present = resumable
    results.csv    the trainer's per-epoch log
    train.json     what train() returned (written once training finished)
    detections_<split>.json  COCO results on the scoring split
    matches_<split>.npz      their per-image COCO matches (the report's paired test re-weights these)
    metrics_whole.json, detections_<split>_whole.json, matches_<split>_whole.npz, analysis_whole/
                   the same checkpoint scored on the whole image (``slicing: {ablation: true}``)
    matches_<split>_<corruption>_s<severity>.npz  the same under each corruption (``robustness:``)
    metrics.json   params, GFLOPs, mAP... -- written atomically last: its presence means DONE
    bench.json     latency per backend (measured later, one cell at a time)
    error.json     the traceback of the last failed attempt (removed on success)

and ``out_dir/scoring/gt_<split>.json``: the COCO ground truth every cell was scored against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yololab.experiments.plan.spec import Cell


@dataclass(frozen=True)
class CellPaths:
    root: Path

    @property
    def cell_yaml(self) -> Path:
        return self.root / "cell.yaml"

    @property
    def last(self) -> Path:
        return self.root / "weights" / "last.pt"

    @property
    def best(self) -> Path:
        return self.root / "weights" / "best.pt"

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def train_json(self) -> Path:
        return self.root / "train.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def analysis(self) -> Path:
        return self.root / "analysis"

    @property
    def bench(self) -> Path:
        return self.root / "bench.json"

    @property
    def error(self) -> Path:
        return self.root / "error.json"

    @property
    def onnx(self) -> Path:
        return self.root / "weights" / "best.onnx"

    def detections(self, split: str, variant: str = "") -> Path:
        return self.root / f"detections_{split}{variant}.json"

    def matches(self, split: str, variant: str = "") -> Path:
        return self.root / f"matches_{split}{variant}.npz"

    @property
    def metrics_whole(self) -> Path:
        """The whole-image scores of a sliced comparison's ablation (written before metrics.json)."""
        return self.root / f"metrics{WHOLE}.json"

    def corrupted_matches(self, split: str, corruption: str, severity: int) -> Path:
        return corrupted_matches(self.root, split, corruption, severity)


#: the file-name suffix of a cell's whole-image scores (``slicing: {ablation: true}``)
WHOLE = "_whole"


def corrupted_matches(folder: Path, split: str, corruption: str, severity: int) -> Path:
    """A cell's per-image matches on ``split`` under one corruption at one severity."""
    return Path(folder) / f"matches_{split}_{corruption}_s{severity}.npz"


def scoring_gt_path(out_dir: str | Path, split: str) -> Path:
    """The one COCO ground-truth file of ``split`` shared by every cell of a comparison."""
    return Path(out_dir) / "scoring" / f"gt_{split}.json"


def cell_dir(out_dir: str | Path, cell: Cell) -> Path:
    return Path(out_dir) / "cells" / cell.cell_id


def cell_paths(out_dir: str | Path, cell: Cell) -> CellPaths:
    return CellPaths(cell_dir(out_dir, cell))


def checkpoint_for_eval(paths: CellPaths, which: str = "best") -> Path:
    """best.pt (the trainer's choice by validation mAP), else last.pt; ``which='last'``: last.pt."""
    for path in (paths.best, paths.last) if which == "best" else (paths.last,):
        if path.is_file():
            return path
    raise FileNotFoundError(f"no weights/best.pt or weights/last.pt in {paths.root}: did training save?")
