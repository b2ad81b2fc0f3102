"""What tuning produces: one trial's outcome and one entry's study, as frozen records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from yololab.experiments.plan.spec import Cell

TrialState = Literal["complete", "pruned", "failed"]


@dataclass(frozen=True)
class EntryKey:
    """The unit that gets one budget: a model with one backbone entry (all its seeds share the result)."""

    model: str
    label: str

    @property
    def study_name(self) -> str:
        return f"{self.model}/{self.label}"


@dataclass(frozen=True)
class TrialTask:
    """One trial to run (sent to a worker): the study, the trial's number, its sampled values and the entry's
    first-seed cell from the plan (what the trial trains, with these values)."""

    key: EntryKey
    study_name: str
    storage: str
    trial_id: int
    number: int
    values: tuple[tuple[str, Any], ...]
    cell: Cell

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class TrialOutcome:
    """What a worker reports: the objective (best val value over the epochs) or why there is none."""

    key: EntryKey
    number: int
    state: TrialState
    value: float | None = None            # complete: the objective; pruned: the last reported value
    epochs_run: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    error: str | None = None


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the study holds it."""

    number: int
    state: TrialState
    value: float | None
    params: tuple[tuple[str, Any], ...]
    epochs_run: int
    seconds: float
    device: str | None = None             # where it trained ('cpu', 'cuda:0'; None in older tuning.json files)


@dataclass(frozen=True)
class StudyResult:
    """One entry's study: the budget spent and the configuration its seeded cells train with."""

    key: EntryKey
    study_name: str
    budget: int                           # finished trials asked for (the same for every entry)
    epochs: int                           # per trial
    trials: tuple[TrialRecord, ...]       # every trial of the study, in number order (failed ones included)
    best_number: int | None
    best_value: float | None
    best_params: tuple[tuple[str, Any], ...] = field(default=())

    def count(self, state: TrialState) -> int:
        return sum(t.state == state for t in self.trials)

    @property
    def finished(self) -> int:
        return self.count("complete") + self.count("pruned")

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.trials)

    @property
    def epochs_trained(self) -> int:
        return sum(t.epochs_run for t in self.trials)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.best_params)

    def describe(self) -> dict[str, Any]:
        """Plain data for protocol.json / tuning.json."""
        return {"model": self.key.model, "entry": self.key.label, "study": self.study_name, "budget": self.budget,
                "epochs": self.epochs, "complete": self.count("complete"), "pruned": self.count("pruned"),
                "failed": self.count("failed"), "best_trial": self.best_number, "best_value": self.best_value,
                "best_params": self.params, "seconds": self.seconds, "epochs_trained": self.epochs_trained,
                "trials": [{"number": t.number, "state": t.state, "value": t.value, "params": dict(t.params),
                            "epochs_run": t.epochs_run, "seconds": t.seconds, "device": t.device}
                           for t in self.trials]}

    @property
    def device_kind(self) -> str:
        """'GPU' when any trial trained on one, else 'CPU'."""
        return "GPU" if any(t.device not in (None, "cpu") for t in self.trials) else "CPU"

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> StudyResult:
        """The study back from its ``describe()`` form (tuning.json)."""
        trials = tuple(TrialRecord(t["number"], t["state"], t["value"], tuple(sorted(t["params"].items())),
                                   t["epochs_run"], t["seconds"], t.get("device")) for t in data.get("trials", ()))
        return cls(EntryKey(data["model"], data["entry"]), data["study"], data["budget"], data["epochs"], trials,
                   data["best_trial"], data["best_value"], tuple(sorted(data["best_params"].items())))
