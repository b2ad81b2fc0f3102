"""What tuning produces: one trial's outcome and one entry's study, as frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
    """One trial to run (sent to a worker): the study, the trial's number and its sampled values."""

    key: EntryKey
    study_name: str
    storage: str
    trial_id: int
    number: int
    values: tuple[tuple[str, Any], ...]

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
                            "epochs_run": t.epochs_run, "seconds": t.seconds} for t in self.trials]}
