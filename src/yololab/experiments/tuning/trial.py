"""One trial, where a worker runs it: train the entry with the trial's values on train, score each epoch on val.

The val metric of each epoch is reported to the study (its pruner may stop the trial there); the
objective is the best val value over the epochs (the epoch ``checkpoint: best`` would keep). Only the
train and val splits are read: the scoring split stays unseen. Weights are deleted afterwards
(results.csv, config.yaml and trial.json stay in the trial's folder).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import time
from pathlib import Path

from yololab.experiments.plan.trainers import default_trainer
from yololab.experiments.plan.comparison_plan import cell_train_config
from yololab.experiments.plan.spec import Cell, ExperimentSpec, safe_id
from yololab.experiments.tuning.records import EntryKey, TrialOutcome, TrialTask
from yololab.experiments.plan.tune_space import TuneSpec, split_values
from yololab.experiments.pool import Placement
from yololab.experiments.tuning.storage import make_pruner, open_storage
from yololab.train.config import TrainConfig
from yololab.train.contract import Trainer
from yololab.jsonfile import write_json

LOG = logging.getLogger("yololab")


def with_values(cell: Cell, values: dict) -> Cell:
    """``cell`` whose backbone entry carries ``values`` (hyp overrides and entry knobs)."""
    hyp, knobs = split_values(values)
    entry = dataclasses.replace(cell.backbone, hyp={**cell.backbone.hyp, **hyp}, **knobs)
    return dataclasses.replace(cell, backbone=entry)


def trial_dir(out: Path, key: EntryKey, number: int) -> Path:
    return Path(out) / "tuning" / safe_id(f"{key.model}_{key.label}") / f"trial_{number:04d}"


def trial_config(spec: ExperimentSpec, task: TrialTask, out: Path, device: str) -> TrainConfig:
    tune = spec.tune
    cell = with_values(task.cell, task.params)
    cell = dataclasses.replace(cell, seed=tune.train_seed if tune.train_seed is not None else spec.seeds[0])
    cfg = cell_train_config(spec, cell, trial_dir(out, task.key, task.number), device, progress=False)
    return dataclasses.replace(cfg, epochs=tune.epochs, plots=False, tensorboard=False, mlflow=None)


def objective_value(metrics: dict, objective: str) -> float:
    if objective == "fitness":
        return 0.1 * float(metrics.get("map50") or 0.0) + 0.9 * float(metrics.get("map50_95") or 0.0)
    return float(metrics.get(objective) or 0.0)


def open_trial(tune: TuneSpec, task: TrialTask):
    """The study's live trial (its pruner decides from every trial's reports in the shared storage)."""
    import optuna


    study = optuna.load_study(study_name=task.study_name, storage=open_storage(task.storage),
                              pruner=make_pruner(tune))
    return optuna.trial.Trial(study, task.trial_id)


def run_trial_task(placement: Placement, spec: ExperimentSpec, task: TrialTask, out: Path,
                   train_fn: Trainer) -> TrialOutcome:
    """One trial as a pool task, on the device entry the pool handed it."""
    return run_trial(spec, task, out, train_fn, placement.device)


def run_trial(spec: ExperimentSpec, task: TrialTask, out: Path, train_fn: Trainer = default_trainer,
              device: str = "cpu") -> TrialOutcome:
    """Run one trial; never raises (a failing trial is an outcome with its error)."""
    started = time.perf_counter()
    tune = spec.tune
    reported: list[float] = []
    try:
        trial = open_trial(tune, task)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("device", device)
        cfg = trial_config(spec, task, out, device)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)

        def on_epoch_end(epoch: int, metrics: dict) -> bool:
            value = objective_value(metrics, tune.objective)
            reported.append(value)
            trial.report(value, epoch)
            return trial.should_prune()

        LOG.info("tuning %s trial %d on %s: %s", task.study_name, task.number, device, task.params)
        summary = train_fn(cfg, on_epoch_end=on_epoch_end)
        pruned = summary.stopped_by_hook
        if reported:
            value = reported[-1] if pruned else max(reported)
        else:  # a trainer that reports no epochs (dry run): its final metrics, else 0
            value = objective_value(summary.final_metrics or {}, tune.objective)
        outcome = TrialOutcome(task.key, task.number, "pruned" if pruned else "complete", value,
                               int(summary.epochs_run or len(reported)), time.perf_counter() - started,
                               device)
    except Exception as err:  # noqa: BLE001 - a failing trial is recorded; the study goes on
        LOG.error("tuning %s trial %d failed: %s: %s", task.study_name, task.number, type(err).__name__, err)
        outcome = TrialOutcome(task.key, task.number, "failed", None, len(reported),
                               time.perf_counter() - started, device, f"{type(err).__name__}: {err}")
    _finish_folder(trial_dir(out, task.key, task.number), outcome, task)
    return outcome


def _finish_folder(folder: Path, outcome: TrialOutcome, task: TrialTask) -> None:
    """Drop the weights (a study keeps values, not models); leave trial.json beside results.csv."""
    try:
        shutil.rmtree(folder / "weights", ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "trial.json",
                   {"study": task.study_name, "number": task.number, "params": task.params, "state": outcome.state,
                    "value": outcome.value, "epochs_run": outcome.epochs_run, "seconds": outcome.seconds,
                    "device": outcome.device, "error": outcome.error})
    except OSError as err:
        LOG.warning("%s: %s", folder, err)
