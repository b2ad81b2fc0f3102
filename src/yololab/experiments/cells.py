"""One cell's folder and life cycle: resolved config -> train (or resume) -> evaluate -> metrics.json.

Layout of ``out_dir/cells/<cell_id>/``::

    cell.yaml      the cell (model, backbone entry, seed) and its resolved TrainConfig
    weights/       written by the trainer (best.pt, last.pt); last.pt present = resumable
    results.csv    the trainer's per-epoch log
    train.json     what train() returned (written once training finished)
    detections_<split>.json  COCO results on the scoring split
    matches_<split>.npz      their per-image COCO matches (the report's paired test re-weights these)
    metrics.json   params, GFLOPs, mAP... -- written atomically last: its presence means DONE
    bench.json     latency per backend (measured later, one cell at a time)
    error.json     the traceback of the last failed attempt (removed on success)

and ``out_dir/scoring/gt_<split>.json``: the COCO ground truth every cell was scored against.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yololab.atomic import atomic_write_text, open_nofollow
from yololab.config import ConfigError, from_mapping
from yololab.eval.analysis import analyze
from yololab.experiments.metrics import evaluate_cell
from yololab.experiments.spec import Cell, ExperimentSpec, resolve_score_split, split_source
from yololab.train.config import TrainConfig

LOG = logging.getLogger("yololab")
TrainFn = Callable[[TrainConfig], dict]
DEFAULT_TRAINER = "yololab.train.trainer:train"
# Fields that may differ between attempts of the same cell without changing its result.
VOLATILE_KEYS = ("device", "out", "resume", "exist_ok", "progress", "workers", "cache", "cache_processes")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, fsync, rename: readers never see half a file."""
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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

    def detections(self, split: str) -> Path:
        return self.root / f"detections_{split}.json"

    def matches(self, split: str) -> Path:
        return self.root / f"matches_{split}.npz"


def scoring_gt_path(out_dir: str | Path, split: str) -> Path:
    """The one COCO ground-truth file of ``split`` shared by every cell of a comparison."""
    return Path(out_dir) / "scoring" / f"gt_{split}.json"


def json_sha256(data: Any) -> str:
    """Hash of canonical JSON (key order and whitespace do not matter)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cell_dir(out_dir: str | Path, cell: Cell) -> Path:
    return Path(out_dir) / "cells" / cell.cell_id


def cell_state(paths: CellPaths) -> str:
    """'done', 'trained' (evaluation pending), 'interrupted' (last.pt, resumable), 'failed' or 'new'."""
    if paths.metrics.is_file():
        return "done"
    if paths.train_json.is_file():
        return "trained"
    if paths.last.is_file():
        return "interrupted"
    if paths.error.is_file():
        return "failed"
    return "new"


def cell_train_config(spec: ExperimentSpec, cell: Cell, out: Path, device: str = "cpu",
                      progress: bool = True, concurrent: int = 1) -> TrainConfig:
    """The resolved TrainConfig of a cell: shared spec settings + the cell's backbone entry and seed."""
    entry = cell.backbone
    pretrained: bool | str = entry.pretrained
    if isinstance(pretrained, str):
        pretrained = str(Path(pretrained).expanduser().resolve())
    values = dict(spec.train)
    values.update(model=cell.model, backbone=cell.backbone_arg, data=str(Path(spec.data).expanduser().resolve()),
                  epochs=spec.epochs, imgsz=spec.imgsz, batch=spec.batch, workers=spec.workers,
                  seed=cell.seed + entry.seed_offset,
                  device=device, out=str(out), pretrained_backbone=pretrained, freeze=entry.freeze,
                  backbone_lr_mult=float(entry.backbone_lr_mult), hyp=spec.entry_hyp(entry), augment=spec.augment,
                  resume=False, progress=progress, cache=spec.cache, cache_processes=concurrent)
    return from_mapping(TrainConfig, values, f"cell {cell.cell_id}")


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


def check_same_config(paths: CellPaths, fingerprint: str) -> None:
    """A cell folder from an earlier run with other settings is an error, not silently reused."""
    if not paths.cell_yaml.is_file():
        return
    old = (yaml.safe_load(paths.cell_yaml.read_text()) or {}).get("fingerprint")
    if old and old != fingerprint:
        raise ConfigError(f"{paths.root} was run with different settings (config fingerprint {old} != "
                          f"{fingerprint}); use another --out folder or delete that cell folder")


def resolve_trainer(train_fn: TrainFn | str | None) -> TrainFn:
    """A callable, or 'module:function' (so worker processes can import it by name)."""
    if callable(train_fn):
        return train_fn
    ref = train_fn or DEFAULT_TRAINER
    module_name, _, func = ref.partition(":")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise RuntimeError(f"trainer {ref!r} is not available ({err}); is yololab.train.trainer installed?") \
            from err
    return getattr(module, func or "train")


def run_cell(spec: ExperimentSpec, cell: Cell, out_dir: str | Path, train_fn: TrainFn | str | None = None,
             device: str = "cpu", progress: bool = True) -> dict:
    """Train (or resume, or skip) one cell and evaluate it; never raises for a failing cell.

    Returns ``{"cell_id", "status": "done"|"skipped"|"failed", "error"?, "seconds"}``.
    """
    paths = CellPaths(cell_dir(out_dir, cell))
    started = time.perf_counter()
    if cell_state(paths) == "done":
        return {"cell_id": cell.cell_id, "status": "skipped", "seconds": 0.0}
    paths.root.mkdir(parents=True, exist_ok=True)
    with cell_lock(paths) as owner:
        if owner is not None:
            message = f"cell {cell.cell_id} is being run by another process (pid {owner}); not started twice"
            LOG.error(message)
            return {"cell_id": cell.cell_id, "status": "failed", "error": message, "seconds": 0.0}
        return _run_locked(spec, cell, paths, train_fn, device, progress, started)


@contextlib.contextmanager
def cell_lock(paths: CellPaths) -> Iterator[int | None]:
    """An exclusive flock on the cell folder, released when the holder exits or dies (even by SIGKILL).

    Yields None when acquired, else the pid recorded by the process that holds it.
    """
    with os.fdopen(open_nofollow(paths.root / ".lock", os.O_RDWR, paths.root), "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            text = handle.read().strip()
            yield int(text) if text.isdigit() else -1
            return
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_locked(spec: ExperimentSpec, cell: Cell, paths: CellPaths, train_fn: TrainFn | str | None, device: str,
                progress: bool, started: float) -> dict:
    state = cell_state(paths)
    if state == "done":  # finished by another process while we waited
        return {"cell_id": cell.cell_id, "status": "skipped", "seconds": 0.0}
    try:
        cfg = cell_train_config(spec, cell, paths.root, device, progress, concurrent=len(spec.devices))
        fingerprint = config_fingerprint(cfg, spec)
        check_same_config(paths, fingerprint)
        paths.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(paths.cell_yaml, yaml.safe_dump(
            {"cell": describe_cell(cell, spec.train.get("weights")), "fingerprint": fingerprint,
             "train_config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str))}, sort_keys=False),
            paths.root)
        if state == "interrupted" and finished_epochs(paths.last) >= cfg.epochs:
            LOG.info("%s: last.pt holds all %d epochs; evaluating without training", cell.cell_id, cfg.epochs)
            write_json_atomic(paths.train_json, {"last": str(paths.last), "epochs_run": None,
                                                 "recovered_from_last": True})
        elif state != "trained":
            cfg.resume = paths.last.is_file()
            LOG.info("%s: %s on %s", cell.cell_id, "resuming from last.pt" if cfg.resume else "training", device)
            result = resolve_trainer(train_fn)(cfg)
            write_json_atomic(paths.train_json, {**_plain_result(result), "pid": os.getpid(), "device": device})
        split = resolve_score_split(spec)
        LOG.info("%s: scoring the %s checkpoint on %s at %d px", cell.cell_id, spec.checkpoint, split,
                 spec.resolved_eval_imgsz)
        data, image_dir = split_source(spec, split)
        metrics, detections, gt = evaluate_cell(checkpoint_for_eval(paths, spec.checkpoint),
                                                read_json(paths.train_json) or {}, data,
                                                spec.resolved_eval_imgsz, spec.eval_batch, device,
                                                workers=spec.workers, split=split, image_dir=image_dir)
        metrics["gt_sha256"] = save_scoring_gt(paths.root.parent.parent, split, gt)
        atomic_write_text(paths.detections(split), json.dumps(detections, separators=(",", ":")))
        save_matches(gt, detections, paths.matches(split))
        metrics["analysis"] = analyze_cell(gt, detections, paths.analysis, cell.cell_id)
        metrics.update(describe_cell(cell, spec.train.get("weights")), fingerprint=fingerprint, checkpoint=spec.checkpoint,
                       selection_split="val" if spec.checkpoint == "best" else None,
                       detections_file=paths.detections(split).name, detections_sha256=json_sha256(detections),
                       matches_file=paths.matches(split).name)
        write_json_atomic(paths.metrics, metrics)  # the done marker: written last
        paths.error.unlink(missing_ok=True)
        return {"cell_id": cell.cell_id, "status": "done", "seconds": time.perf_counter() - started}
    except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the others go on
        message = f"{type(err).__name__}: {err}"
        LOG.error("%s failed: %s", cell.cell_id, message)
        try:
            write_json_atomic(paths.error, {"error": message, "traceback": traceback.format_exc(),
                                            "time": time.strftime("%Y-%m-%d %H:%M:%S")})
        except OSError:
            pass
        return {"cell_id": cell.cell_id, "status": "failed", "error": message,
                "seconds": time.perf_counter() - started}


def save_matches(gt: dict, detections: list[dict], path: Path) -> None:
    """The cell's per-image COCO matches on the scoring split (pycocotools, once, when the cell is
    scored): the report re-weights them for the paired test and never matches again."""
    from yololab.eval.bootstrap import ImageMatches

    ImageMatches.from_coco(gt, detections).save(path)


def save_scoring_gt(out_dir: Path, split: str, gt: dict) -> str:
    """Write the shared ground truth of ``split`` once; a different one already there is an error."""
    digest = json_sha256(gt)
    path = scoring_gt_path(out_dir, split)
    old = read_json(path)
    if old is not None and json_sha256(old) != digest:
        raise ConfigError(f"{path} holds another ground truth of the {split} split than this cell was scored "
                          f"on (the data changed?); use another --out folder")
    if old is None:
        atomic_write_text(path, json.dumps(gt, separators=(",", ":")))
    return digest


def checkpoint_for_eval(paths: CellPaths, which: str = "best") -> Path:
    """best.pt (the trainer's choice by validation mAP), else last.pt; ``which='last'``: last.pt."""
    for path in (paths.best, paths.last) if which == "best" else (paths.last,):
        if path.is_file():
            return path
    raise FileNotFoundError(f"no weights/best.pt or weights/last.pt in {paths.root}: did training save?")


def analyze_cell(gt: dict, detections: list[dict], out: Path, cell_id: str) -> dict[str, Any] | None:
    """Error analysis of a cell's scoring detections into ``out`` (confusion matrix, PR/F1 curves, TIDE
    breakdown); a failure is logged and leaves the cell's metrics intact."""
    try:
        summary = analyze(gt, detections, out)
    except Exception as err:  # noqa: BLE001 - the analysis is an extra; the scores stand without it
        LOG.warning("%s: error analysis failed: %s", cell_id, err)
        return None
    return {k: summary[k] for k in ("best_conf", "best_f1", "errors", "error_counts", "voc07_map", "voc12_map")}


def finished_epochs(last: Path) -> int:
    """Epochs completed in a trainer's last.pt (its 'epoch' is the 0-based last finished one); 0 if unknown."""
    import torch

    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
        return int(ckpt.get("epoch", -1)) + 1
    except Exception:  # noqa: BLE001 - unreadable: let the trainer decide (and report) on resume
        return 0


def _plain_result(result: Any) -> dict:
    """The trainer's return value as JSON-safe data (paths to str, tensors/numpy to numbers)."""
    if not isinstance(result, dict):
        return {"result": str(result)}

    def strip(value: Any) -> Any:  # per-image detections are large and not needed here
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "detections"}
        return value

    return json.loads(json.dumps(strip(result), default=lambda v: v.item() if hasattr(v, "item") else str(v)))
