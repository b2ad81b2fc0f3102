"""The studies: one Optuna study per entry in an RDB storage, run until each has the same finished budget.

Budget: ``tune.trials`` finished (COMPLETE or PRUNED) trials per entry. A failed trial is recorded
(state FAIL, its error in the trial's user attrs) and does not count; an entry gives up after
``tune.max_failed`` failures (default: ``trials``). Resume: a RUNNING trial left by a dead process on
this host (its driver and worker pids are gone) is marked FAIL and its place re-run, so a killed
run loses no finished trial and runs none twice. Several processes (other machines, via a shared
storage URL) may work on one study: a trial asked beyond the budget (a race between processes) is
closed as FAIL with ``over_budget`` and left out of the records.

Sampling: the sampler runs in the driver, re-seeded before each ask with ``seed + trials so far``, so
the sequence is reproducible from the storage alone (a resumed study asks what an uninterrupted one
would have asked) and the workers get fixed values; the pruner runs in the worker on each epoch.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yololab.config import ConfigError
from yololab.experiments.plan.trainers import default_trainer
from yololab.jsonfile import write_json
from yololab.experiments.plan.comparison_plan import ComparisonPlan
from yololab.experiments.plan.spec import Cell, ExperimentSpec
from yololab.experiments.tuning.records import EntryKey, StudyResult, TrialOutcome, TrialRecord, TrialTask
from yololab.experiments.pool import Task, TaskOutcome, TaskPool, open_pool
from yololab.experiments.tuning.trial import run_trial_task
from yololab.train.contract import Trainer
from yololab.experiments.plan.tune_space import TuneSpec
from yololab.experiments.tuning.storage import make_pruner, make_sampler, masked, open_storage, storage_errors

LOG = logging.getLogger("yololab")
STUDY_FILE = "study.db"
RESULT_FILE = "tuning.json"


@dataclass(frozen=True)
class TuningResult:
    storage: str                       # the storage URL (a password in it is masked)
    studies: tuple[StudyResult, ...]

    def for_key(self, key: EntryKey) -> StudyResult | None:
        return next((s for s in self.studies if s.key == key), None)

    def describe(self) -> dict:
        return {"storage": self.storage, "studies": [s.describe() for s in self.studies]}


def storage_url(tune: TuneSpec, out: Path) -> str:
    return tune.storage or f"sqlite:///{(Path(out) / 'tuning' / STUDY_FILE).resolve()}"


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EntryStudy:
    """One entry's study in the storage and the driver's view of its budget."""

    def __init__(self, cell: Cell, tune: TuneSpec, storage, url: str, prefix: str) -> None:
        import optuna

        key = EntryKey(cell.model, cell.label)
        self.cell, self.key, self.tune, self.storage, self.url = cell, key, tune, storage, url
        self.name = f"{prefix}:{key.study_name}"
        self.study = optuna.create_study(study_name=self.name, storage=storage, direction="maximize",
                                         sampler=make_sampler(tune), pruner=make_pruner(tune), load_if_exists=True)
        self._check_protocol()

    def _check_protocol(self) -> None:
        settings = {"space": {k: r.describe() for k, r in self.tune.space.items()}, "epochs": self.tune.epochs,
                    "objective": self.tune.objective, "train_seed": self.tune.train_seed}
        old = self.study.user_attrs.get("settings")
        if old is None:
            self.study.set_user_attr("settings", settings)
        elif old != settings:
            raise ConfigError(f"study {self.name!r} in {masked(self.url)} was run with other tuning settings "
                              f"({old} != {settings}); use another --out folder or tune: storage")

    def trials(self) -> list:
        return [t for t in self.study.get_trials(deepcopy=False) if not t.user_attrs.get("over_budget")]

    def fail_stale(self) -> int:
        """RUNNING trials left by dead processes on this host become FAIL (their place is run again)."""
        import optuna

        host, n = socket.gethostname(), 0
        for t in self.trials():
            if t.state != optuna.trial.TrialState.RUNNING or t.user_attrs.get("host") != host:
                continue
            if _alive(t.user_attrs.get("pid")) or _alive(t.user_attrs.get("driver_pid")):
                continue
            self.storage.set_trial_user_attr(t._trial_id, "error", "process died (killed); trial re-run")
            self.storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            n += 1
        if n:
            LOG.warning("%s: %d trial(s) left RUNNING by a killed process marked FAIL; they are run again",
                        self.name, n)
        return n

    def counts(self) -> tuple[int, int, int]:
        """(finished, running, failed) trials."""
        from optuna.trial import TrialState

        states = [t.state for t in self.trials()]
        finished = sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
        running = sum(s in (TrialState.RUNNING, TrialState.WAITING) for s in states)
        return finished, running, states.count(TrialState.FAIL)

    def wants_more(self) -> bool:
        finished, running, failed = self.counts()
        return finished + running < self.tune.trials and failed < self.tune.failure_limit

    def ask(self) -> TrialTask | None:
        """A new trial with its values sampled here; None when another process took the budget first."""
        from optuna.trial import TrialState

        self.study.sampler = make_sampler(self.tune, offset=len(self.study.get_trials(deepcopy=False)))
        trial = self.study.ask(self.tune.distributions())
        trial.set_user_attr("driver_pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        ahead = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
                    for t in self.trials() if t.number < trial.number)
        if ahead >= self.tune.trials:
            trial.set_user_attr("over_budget", True)
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        return TrialTask(self.key, self.name, self.url, trial._trial_id, trial.number,
                         tuple(sorted(trial.params.items())), self.cell)

    def tell(self, outcome: TrialOutcome) -> None:
        from optuna.trial import TrialState

        trial_id = next(t._trial_id for t in self.study.get_trials(deepcopy=False) if t.number == outcome.number)
        for attr, value in (("epochs_run", outcome.epochs_run), ("seconds", outcome.seconds),
                            ("device", outcome.device), ("error", outcome.error)):
            if value is not None:
                self.storage.set_trial_user_attr(trial_id, attr, value)
        if outcome.state == "complete":
            self.study.tell(outcome.number, outcome.value)
        elif outcome.state == "pruned":
            self.study.tell(outcome.number, state=TrialState.PRUNED)
        else:
            self.study.tell(outcome.number, state=TrialState.FAIL)

    def result(self) -> StudyResult:
        from optuna.trial import TrialState

        names = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
        records = []
        for t in sorted(self.trials(), key=lambda t: t.number):
            if t.state not in names:
                continue  # still running elsewhere
            value = t.value if t.state == TrialState.COMPLETE else (
                t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
            records.append(TrialRecord(t.number, names[t.state], value, tuple(sorted(t.params.items())),
                                       int(t.user_attrs.get("epochs_run", 0)), float(t.user_attrs.get("seconds", 0.0)),
                                       t.user_attrs.get("device")))
        best = choose_best(records)
        return StudyResult(self.key, self.name, self.tune.trials, self.tune.epochs, tuple(records),
                           best.number if best else None, best.value if best else None,
                           best.params if best else ())


def choose_best(records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The complete trial with the highest objective (the lowest number on a tie); with none complete, the
    pruned trial whose last reported value is highest."""
    for state in ("complete", "pruned"):
        pool = [r for r in records if r.state == state and r.value is not None]
        if pool:
            return max(pool, key=lambda r: (r.value, -r.number))
    return None


def _run_trials(pool: TaskPool, studies: list[EntryStudy], spec: ExperimentSpec, out: Path, train_fn: Trainer,
                started: float) -> None:
    """Trials on ``pool`` until every study has its budget: round-robin, so every entry advances at the
    same pace; each outcome told to its study as it arrives."""
    tune, by_key = spec.tune, {s.key: s for s in studies}
    while True:
        progressed = True
        while pool.free and progressed:
            progressed = False
            for s in sorted(studies, key=lambda s: sum(s.counts()[:2])):
                if pool.free and s.wants_more():
                    task = s.ask()
                    if task is not None:
                        pool.submit(Task((task.key, task.number), run_trial_task, (spec, task, out, train_fn)))
                        progressed = True
        if not pool.busy:
            return
        outcome = trial_outcome(pool.next_outcome())
        by_key[outcome.key].tell(outcome)
        finished = sum(s.counts()[0] for s in studies)
        LOG.info("tuning %s trial %d %s%s (%.0f s; %d/%d finished, %.0f s elapsed)", outcome.key.study_name,
                 outcome.number, outcome.state, "" if outcome.value is None else f" {outcome.value:.4f}",
                 outcome.seconds, finished, tune.trials * len(studies), time.perf_counter() - started)


def trial_outcome(outcome: TaskOutcome[TrialOutcome]) -> TrialOutcome:
    """The trial's outcome as its task ended (a task whose worker died is a failed trial)."""
    if outcome.ok and outcome.value is not None:
        return outcome.value
    key, number = outcome.key
    return TrialOutcome(key, number, "failed", device=outcome.device, error=outcome.error)


def run_tuning(plan: ComparisonPlan, train_fn: Trainer = default_trainer) -> TuningResult:
    """Run (or continue) the study of every entry of the plan (``plan.tuning_cells``) until each has
    ``tune.trials`` finished trials, on the plan's executor and devices; write ``tuning/tuning.json`` and
    return the studies. A storage that fails is one sentence naming it."""
    if plan.spec.tune is None:
        raise ConfigError("the experiment has no 'tune:' section")
    with storage_errors(storage_url(plan.spec.tune, plan.out)):
        return _run_tuning(plan, train_fn)


def _run_tuning(plan: ComparisonPlan, train_fn: Trainer) -> TuningResult:
    import optuna

    spec, out = plan.spec, plan.out
    tune = spec.tune
    if tune is None:
        raise ConfigError("the experiment has no 'tune:' section")
    url = storage_url(tune, out)
    storage = open_storage(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = [EntryStudy(cell, tune, storage, url, spec.name) for cell in plan.tuning_cells]
    for s in studies:
        s.fail_stale()
    todo = sum(max(0, tune.trials - s.counts()[0]) for s in studies)
    LOG.info("tuning %d entr%s x %d trials of %d epoch(s) (%d to run) in %s", len(studies),
             "y" if len(studies) == 1 else "ies", tune.trials, tune.epochs, todo, masked(url))
    started = time.perf_counter()
    if todo:
        with open_pool(plan.executor, list(spec.devices)) as pool:
            _run_trials(pool, studies, spec, out, train_fn, started)
    result = TuningResult(masked(url), tuple(s.result() for s in studies))
    for s in result.studies:
        values = {t.value for t in s.trials if t.state != "failed"}
        if len(values) == 1 and s.finished > 1:
            LOG.warning("%s: every trial scored %s on val: the study cannot tell its configurations apart, so the "
                        "chosen values (trial %s, the first) are arbitrary; train longer per trial", s.study_name,
                        values.pop(), s.best_number)
        if s.finished < tune.trials:
            LOG.warning("%s: %d of %d trials finished (%d failed): its budget is short", s.study_name, s.finished,
                        tune.trials, s.count("failed"))
    (out / "tuning").mkdir(parents=True, exist_ok=True)
    write_json(out / "tuning" / RESULT_FILE, result.describe())
    return result
