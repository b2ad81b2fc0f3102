"""The trainer contract: what a trainer is called with (:class:`Trainer`) and what it returns (:class:`TrainSummary`).

``yololab.train.trainer.train`` and the dry-run stand-in of ``yololab compare --dry-run`` both follow it.
A comparison hands a trainer to its workers as a picklable callable (a module-level function pickles by
reference), keeps the summary in memory, and writes :meth:`TrainSummary.record` to a cell's train.json as
a record; :meth:`TrainSummary.from_record` reads one back only for a cell trained by an earlier run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the config pulls in torch; the contract itself must not (the CLI answers without it)
    from yololab.train.config import TrainConfig

#: called on the main process after every validated epoch with (epoch, val metrics as plain numbers);
#: returning True stops training there (e.g. a tuning trial that a pruner stops early)
EpochHook = Callable[[int, dict], bool]


@dataclass(frozen=True)
class TrainSummary:
    """What one training run did. Paths are strings (as train.json has them); a figure an older train.json
    lacks, or that a run recovered from last.pt cannot know, is None."""

    out: str | None = None
    last: str | None = None
    best: str | None = None                      # None: no best.pt (no validation images, or not kept)
    best_fitness: float | None = None
    best_map50_95: float | None = None
    selects_best: bool = True                    # False: val metrics were on training images; last.pt is the result
    final_metrics: Mapping[str, Any] | None = None  # the last validated epoch's metrics
    train_seconds: float | None = None
    images_per_second: float | None = None
    peak_memory_mb: float | None = None
    epochs_run: int | None = None
    stopped_early: bool = False
    world_size: int = 1
    stopped_by_hook: bool = False                # ``on_epoch_end`` stopped it (a pruned tuning trial)
    dry_run: bool = False                        # an untrained model saved by the dry-run stand-in
    recovered_from_last: bool = False            # not trained now: last.pt already held every epoch

    def record(self) -> dict[str, Any]:
        """The plain form written to train.json (the same names as the fields)."""
        plain = dataclasses.asdict(self)
        plain["final_metrics"] = None if self.final_metrics is None else dict(self.final_metrics)
        return plain

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> TrainSummary:
        """A summary back from train.json, older files included (unknown keys such as ``pid`` are ignored;
        the dry run's old ``metrics`` key is ``final_metrics``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "final_metrics" not in values and data.get("metrics"):
            values["final_metrics"] = data["metrics"]
        return cls(**values)


class Trainer(Protocol):
    """Trains as ``cfg`` says (resuming from ``cfg.out``'s last.pt when ``cfg.resume``); calls
    ``on_epoch_end`` after each validated epoch (True stops the run); returns what it did."""

    def __call__(self, cfg: TrainConfig, on_epoch_end: EpochHook | None = None) -> TrainSummary: ...
