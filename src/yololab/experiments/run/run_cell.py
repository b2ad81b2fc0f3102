"""Running one cell: resolved config -> train (or resume) -> score -> metrics.json (see ``layout``)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import traceback
from pathlib import Path

import yaml

from yololab.atomic import atomic_write_text
from yololab.config import ConfigError
from yololab.eval.analysis import analyze
from yololab.experiments.plan.cell_config import (cell_entry, cell_state, check_same_config, config_fingerprint,
                                                  describe_cell, earlier_training, finished_epochs)
from yololab.experiments.run.cell_lock import cell_lock
from yololab.experiments.plan.layout import WHOLE, checkpoint_for_eval, scoring_gt_path
from yololab.experiments.score.metrics import evaluate_cell
from yololab.experiments.score.robustness import score_robustness
from yololab.experiments.plan.comparison_plan import ResolvedCell
from yololab.experiments.results.records import AnalysisSummary, CellResult
from yololab.experiments.results.records_io import metrics_flat
from yololab.experiments.plan.spec import ExperimentSpec, resolve_score_split, split_source
from yololab.experiments.results.status import CellOutcome, CellStatus
from yololab.experiments.plan.trainers import default_trainer
from yololab.jsonfile import json_sha256, read_json_if_present, write_json
from yololab.train.contract import Trainer, TrainSummary

LOG = logging.getLogger("yololab")


def run_cell(spec: ExperimentSpec, resolved: ResolvedCell, train_fn: Trainer = default_trainer,
             device: str = "cpu", progress: bool = True) -> CellOutcome:
    """Train (or resume, or skip) one cell and score it; never raises for a failing cell."""
    cell, paths = resolved.cell, resolved.paths
    started = time.perf_counter()
    if cell_state(paths) == CellStatus.DONE:
        return CellOutcome.skipped(cell.cell_id)
    paths.root.mkdir(parents=True, exist_ok=True)
    with cell_lock(paths) as owner:
        if owner is not None:
            message = f"cell {cell.cell_id} is being run by another process (pid {owner}); not started twice"
            LOG.error(message)
            return CellOutcome.failed(cell.cell_id, message)
        return _run_locked(spec, resolved, train_fn, device, progress, started)


def _run_locked(spec: ExperimentSpec, resolved: ResolvedCell, train_fn: Trainer, device: str,
                progress: bool, started: float) -> CellOutcome:
    cell, paths = resolved.cell, resolved.paths
    state = cell_state(paths)
    if state == CellStatus.DONE:  # finished by another process while we waited
        return CellOutcome.skipped(cell.cell_id)
    try:
        cfg = dataclasses.replace(resolved.config, device=device, progress=progress,
                                  cache_processes=len(spec.devices))
        fingerprint = config_fingerprint(cfg, spec)
        check_same_config(paths, fingerprint)
        paths.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(paths.cell_yaml, yaml.safe_dump(
            {"cell": describe_cell(cell, spec.train.get("weights")), "fingerprint": fingerprint,
             "train_config": json.loads(json.dumps(dataclasses.asdict(cfg), default=str))}, sort_keys=False),
            paths.root)
        if state == CellStatus.INTERRUPTED and finished_epochs(paths.last) >= cfg.epochs:
            LOG.info("%s: last.pt holds all %d epochs; evaluating without training", cell.cell_id, cfg.epochs)
            trained = TrainSummary(last=str(paths.last), recovered_from_last=True)
            write_json(paths.train_json, trained.record())
        elif state == CellStatus.TRAINED:  # trained by an earlier run that stopped before scoring: its record
            trained = earlier_training(paths)
        else:
            cfg.resume = paths.last.is_file()
            LOG.info("%s: %s on %s", cell.cell_id, "resuming from last.pt" if cfg.resume else "training", device)
            trained = train_fn(cfg)
            write_json(paths.train_json, {**trained.record(), "pid": os.getpid(), "device": device})
        split = resolve_score_split(spec)
        LOG.info("%s: scoring the %s checkpoint on %s at %d px", cell.cell_id, spec.checkpoint, split,
                 spec.resolved_eval_imgsz)
        if spec.slicing is not None and spec.slicing.ablation:  # the same checkpoint, whole image: before the marker
            whole = _score(spec, resolved, trained, fingerprint, device, split, sliced=False)
            write_json(paths.metrics_whole, metrics_flat(whole))
        scored = _score(spec, resolved, trained, fingerprint, device, split, sliced=spec.slicing is not None)
        if spec.robustness is not None:  # whole-image passes under each corruption x severity
            LOG.info("%s: scoring under %d corruption x severity pairs (one pass each)", cell.cell_id,
                     spec.robustness.passes)
            data, image_dir = split_source(spec, split)
            robustness = score_robustness(
                checkpoint_for_eval(paths, spec.checkpoint), data, split, image_dir, spec.resolved_eval_imgsz,
                spec.eval_batch, device, spec.workers, spec.robustness, scored.accuracy.map50_95,
                save=lambda c, s, g, d: save_matches(g, d, paths.corrupted_matches(split, c, s), spec.max_det))
            scored = dataclasses.replace(scored, robustness=robustness)
        write_json(paths.metrics, metrics_flat(scored))  # the done marker: written last
        paths.error.unlink(missing_ok=True)
        return CellOutcome(cell.cell_id, CellStatus.DONE, time.perf_counter() - started)
    except Exception as err:  # noqa: BLE001 - a failing cell is recorded, the others go on
        message = f"{type(err).__name__}: {err}"
        LOG.error("%s failed: %s", cell.cell_id, message)
        try:
            write_json(paths.error, {"error": message, "traceback": traceback.format_exc(),
                                     "time": time.strftime("%Y-%m-%d %H:%M:%S")})
        except OSError:
            pass
        return CellOutcome.failed(cell.cell_id, message, time.perf_counter() - started)


def _score(spec: ExperimentSpec, resolved: ResolvedCell, trained: TrainSummary, fingerprint: str, device: str,
           split: str, sliced: bool) -> CellResult:
    """The cell's checkpoint scored on ``split`` (sliced by ``spec.slicing`` or on the whole image), its
    detections, matches and error analysis saved; whole-image files of a sliced comparison get ``WHOLE``."""
    cell, paths = resolved.cell, resolved.paths
    variant = WHOLE if spec.slicing is not None and not sliced else ""
    data, image_dir = split_source(spec, split)
    score = evaluate_cell(checkpoint_for_eval(paths, spec.checkpoint), trained, data, spec.resolved_eval_imgsz,
                          spec.eval_batch, device, workers=spec.workers, split=split, image_dir=image_dir,
                          slicing=spec.slicing.settings() if sliced else None, max_det=spec.max_det)
    gt, detections = score.ground_truth, score.detections
    gt_sha256 = save_scoring_gt(paths.root.parent.parent, split, gt)
    write_json(paths.detections(split, variant), detections, indent=None)
    save_matches(gt, detections, paths.matches(split, variant), spec.max_det)
    analysis = analyze_cell(gt, detections, paths.root / f"{paths.analysis.name}{variant}", cell.cell_id)
    provenance = dataclasses.replace(
        score.provenance, gt_sha256=gt_sha256, fingerprint=fingerprint, checkpoint=spec.checkpoint,
        selection_split="val" if spec.checkpoint == "best" else None,
        scoring=None if spec.slicing is None else ("sliced" if sliced else "whole image"),
        detections_file=paths.detections(split, variant).name, detections_sha256=json_sha256(detections),
        matches_file=paths.matches(split, variant).name)
    return CellResult(cell.cell_id, cell_entry(cell, spec.whole_model_weights), cell.seed, CellStatus.DONE,
                      reference=cell.reference, accuracy=score.accuracy, cost=score.cost, provenance=provenance,
                      analysis=analysis)


def save_matches(gt: dict, detections: list[dict], path: Path, max_dets: int | None = None) -> None:
    """The cell's per-image COCO matches on the scoring split (pycocotools, once, when the cell is
    scored): the report re-weights them for the paired test and never matches again."""
    from yololab.eval.bootstrap import ImageMatches

    ImageMatches.from_coco(gt, detections, max_dets).save(path)


def save_scoring_gt(out_dir: Path, split: str, gt: dict) -> str:
    """Write the shared ground truth of ``split`` once; a different one already there is an error."""
    digest = json_sha256(gt)
    path = scoring_gt_path(out_dir, split)
    old = read_json_if_present(path)
    if old is not None and json_sha256(old) != digest:
        raise ConfigError(f"{path} holds another ground truth of the {split} split than this cell was scored "
                          f"on (the data changed?); use another --out folder")
    if old is None:
        write_json(path, gt, indent=None)
    return digest


def analyze_cell(gt: dict, detections: list[dict], out: Path, cell_id: str) -> AnalysisSummary | None:
    """Error analysis of a cell's scoring detections into ``out`` (confusion matrix, PR/F1 curves, TIDE
    breakdown); a failure is logged and leaves the cell's metrics intact."""
    try:
        summary = analyze(gt, detections, out)
    except Exception as err:  # noqa: BLE001 - the analysis is an extra; the scores stand without it
        LOG.warning("%s: error analysis failed: %s", cell_id, err)
        return None
    return AnalysisSummary(summary["best_conf"], summary["best_f1"], summary["errors"], summary["error_counts"],
                           summary["voc07_map"], summary["voc12_map"])
