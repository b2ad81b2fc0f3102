"""A cell's state and identity: the fingerprint of what decides its result, its identity columns, and what
its folder says about it (:class:`CellStatus`); its TrainConfig is resolved with the plan."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import yaml

from yololab.config import ConfigError
from yololab.experiments.plan.layout import CellPaths
from yololab.experiments.results.records import Entry
from yololab.experiments.plan.spec import Cell, ExperimentSpec
from yololab.experiments.results.status import CellStatus
from yololab.jsonfile import read_json_if_present
from yololab.train.config import TrainConfig
from yololab.train.contract import TrainSummary

LOG = logging.getLogger("yololab")

# Fields that may differ between attempts of the same cell without changing its result.
VOLATILE_KEYS = ("device", "out", "resume", "exist_ok", "progress", "workers", "cache", "cache_processes")


def cell_state(paths: CellPaths) -> CellStatus:
    """DONE (metrics.json), TRAINED (scoring pending), INTERRUPTED (last.pt, resumable), FAILED or PENDING."""
    if paths.metrics.is_file():
        return CellStatus.DONE
    if paths.train_json.is_file():
        return CellStatus.TRAINED
    if paths.last.is_file():
        return CellStatus.INTERRUPTED
    if paths.error.is_file():
        return CellStatus.FAILED
    return CellStatus.PENDING


def earlier_training(paths: CellPaths) -> TrainSummary:
    """What an earlier run's training of a TRAINED cell did (its train.json, older files too): read once
    to score the cell, never the record of the run in progress. An unreadable record gives an empty
    summary: the checkpoint is scored all the same, without its training figures."""
    try:
        return TrainSummary.from_record(read_json_if_present(paths.train_json) or {})
    except (TypeError, ValueError) as err:
        LOG.warning("%s: %s; scoring without its training figures", paths.train_json, err)
        return TrainSummary()


def config_fingerprint(cfg: TrainConfig, spec: ExperimentSpec) -> str:
    """Hash of everything that decides a cell's result (not device, folder or progress bars)."""
    data = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in VOLATILE_KEYS}
    data["eval"] = [spec.resolved_eval_imgsz, spec.eval_batch]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def init_label(cell: Cell, weights: str | None = None) -> str:
    """How a cell starts: the whole-model checkpoint (``train: {weights: ...}``) if any, then the backbone's
    own initialisation ('scratch', 'pretrained' or a weights file) when that is not implied by it."""
    backbone = cell.backbone.init_label()
    if not weights:
        return backbone
    return Path(str(weights)).name + ("" if backbone == "scratch" else f" + backbone {backbone}")


def describe_cell(cell: Cell, weights: str | None = None) -> dict:
    """The cell's identity columns; ``weights`` is the spec's whole-model initial checkpoint, if any."""
    return {"cell_id": cell.cell_id, "model": cell.model, "backbone": cell.label,
            "backbone_name": cell.backbone_name, "native": cell.backbone.is_native, "seed": cell.seed,
            "pretrained": cell.backbone.pretrained, "init": init_label(cell, weights),
            "freeze": cell.backbone.freeze, "backbone_lr_mult": float(cell.backbone.backbone_lr_mult),
            "reference": cell.reference}


def cell_entry(cell: Cell, weights: str | None = None) -> Entry:
    """The table identity of a cell's entry; ``weights`` is the spec's whole-model checkpoint (Init column)."""
    b = cell.backbone
    return Entry(model=cell.model, label=cell.label, backbone_name=cell.backbone_name, native=b.is_native,
                 init=init_label(cell, weights), pretrained=b.pretrained, freeze=b.freeze,
                 backbone_lr_mult=float(b.backbone_lr_mult))


def check_same_config(paths: CellPaths, fingerprint: str) -> None:
    """A cell folder from an earlier run with other settings is an error, not silently reused."""
    if not paths.cell_yaml.is_file():
        return
    old = (yaml.safe_load(paths.cell_yaml.read_text()) or {}).get("fingerprint")
    if old and old != fingerprint:
        raise ConfigError(f"{paths.root} was run with different settings (config fingerprint {old} != "
                          f"{fingerprint}); use another --out folder or delete that cell folder")


def finished_epochs(last: Path) -> int:
    """Epochs completed in a trainer's last.pt (its 'epoch' is the 0-based last finished one); 0 if unknown."""
    import torch

    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
        return int(ckpt.get("epoch", -1)) + 1
    except Exception:  # noqa: BLE001 - unreadable: let the trainer decide (and report) on resume
        return 0
