"""``tune:`` of an experiment: the search space, the budget, the sampler and the pruner (typed, strict).

Space keys are any :class:`~yololab.train.hyp.Hyperparameters` field plus the entry knobs
``backbone_lr_mult`` and ``freeze``; each range is one of ``{low, high}`` (uniform),
``{low, high, log: true}`` (log-uniform), ``{low, high, int: true}`` (integers, ``step`` optional) or
``{choices: [...]}`` (categorical). A misspelt key or parameter name is an error naming the closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from yololab.config import ConfigError, from_mapping
from yololab.train.hyp import Hyperparameters

ENTRY_KNOBS = ("backbone_lr_mult", "freeze")  # BackboneEntry fields a study may tune
HYP_KEYS = tuple(f.name for f in dataclasses.fields(Hyperparameters))
# the space of ``yololab compare --tune-trials N`` when the experiment file names none
DEFAULT_SPACE = {"lr0": {"low": 0.001, "high": 0.05, "log": True},
                 "weight_decay": {"low": 0.0001, "high": 0.001, "log": True},
                 "backbone_lr_mult": {"choices": [0.1, 0.3, 1.0]}}


@dataclass(frozen=True)
class ParamRange:
    """One searched parameter: a numeric range or a list of choices."""

    low: float | None = None
    high: float | None = None
    log: bool = False                      # log-uniform
    int: bool = False                      # integers from low to high (inclusive)
    step: float | None = None              # grid step of a numeric range (optional)
    choices: list | None = None            # categorical: the values to choose from

    def check(self, where: str) -> None:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.int or self.step is not None:
                raise ConfigError(f"{where}: give either 'choices' or 'low'/'high', not both")
            if not self.choices:
                raise ConfigError(f"{where}: choices must list at least one value")
            return
        if self.low is None or self.high is None:
            raise ConfigError(f"{where}: a range needs 'low' and 'high' (or give 'choices: [...]')")
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"{where}: {name} must be a finite number, got {value}")
        if self.low > self.high:
            raise ConfigError(f"{where}: low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ConfigError(f"{where}: a log range takes no step")
        if self.int and (self.low != round(self.low) or self.high != round(self.high)):
            raise ConfigError(f"{where}: an int range needs whole-number low and high")

    def distribution(self):
        """The Optuna distribution of this range."""
        import optuna.distributions as dist

        if self.choices is not None:
            return dist.CategoricalDistribution(list(self.choices))
        if self.int:
            return dist.IntDistribution(round(self.low), round(self.high), log=self.log,
                                        step=round(self.step) if self.step else 1)
        return dist.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> str:
        if self.choices is not None:
            return "{" + ", ".join(map(str, self.choices)) + "}"
        kind = "int " if self.int else ("log " if self.log else "")
        return f"{kind}[{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class TuneSpec:
    """An equal tuning budget for every entry (model x backbone entry), run before the seeds."""

    trials: int = 20                                    # finished (complete or pruned) trials per entry
    epochs: int = 10                                    # training epochs per trial
    space: dict = field(default_factory=dict)           # parameter name -> ParamRange mapping
    # maximised: the best val value over a trial's epochs (fitness: 0.1 mAP50 + 0.9 mAP50-95)
    objective: Literal["map50_95", "map50", "fitness"] = "map50_95"
    sampler: Literal["tpe", "random"] = "tpe"
    startup_trials: int = 5                             # TPE: random trials before the model takes over
    seed: int = 0                                       # the sampler's seed
    train_seed: int | None = None                       # each trial's training seed (default: the first of seeds)
    pruner: Literal["successive_halving", "hyperband", "median", "threshold", "none"] = "successive_halving"
    min_resource: int = 1                               # pruner: epochs before a trial may be stopped
    reduction_factor: int = 3                           # pruner: keep the top 1/reduction_factor at each rung
    prune_below: float = 0.0                            # threshold pruner: stop a trial whose val value is below
    storage: str | None = None                          # SQLAlchemy URL (default: sqlite in <out>/tuning/study.db)
    max_failed: int | None = None                       # failed trials per entry before it gives up (default: trials)

    def __post_init__(self) -> None:
        object.__setattr__(self, "space", parse_space(self.space))

    def check(self, where: str = "tune") -> None:
        if self.trials < 1 or self.epochs < 1:
            raise ConfigError(f"{where}: trials and epochs must be >= 1")
        if not self.space:
            raise ConfigError(f"{where}: space is empty; name at least one of {', '.join(ENTRY_KNOBS + HYP_KEYS)}")
        if self.min_resource < 1 or self.reduction_factor < 2 or self.startup_trials < 0:
            raise ConfigError(f"{where}: min_resource must be >= 1, reduction_factor >= 2, startup_trials >= 0")
        if self.max_failed is not None and self.max_failed < 0:
            raise ConfigError(f"{where}: max_failed must be >= 0")
        freeze = self.space.get("freeze")
        if freeze is not None and freeze.choices is None and not freeze.int:
            raise ConfigError(f"{where}.space.freeze: freeze counts stages; give int: true or choices")

    @property
    def failure_limit(self) -> int:
        return self.trials if self.max_failed is None else self.max_failed

    def distributions(self) -> dict:
        return {name: r.distribution() for name, r in self.space.items()}

    def describe(self) -> dict[str, Any]:
        """Plain data for protocol.json."""
        data = dataclasses.asdict(self)
        data["space"] = {k: dataclasses.asdict(v) for k, v in self.space.items()}
        return data


def parse_space(values: Any, where: str = "tune.space") -> dict[str, ParamRange]:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of parameter name to range, got {type(values).__name__}")
    valid = ENTRY_KNOBS + HYP_KEYS
    space = {}
    for name, spec in values.items():
        if name not in valid:
            close = difflib.get_close_matches(str(name), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown parameter {name!r}{hint}; valid: {', '.join(valid)}")
        rng = spec if isinstance(spec, ParamRange) else from_mapping(ParamRange, spec, f"{where}.{name}")
        rng.check(f"{where}.{name}")
        values = rng.choices if rng.choices is not None else [rng.low, rng.high]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"{where}.{name}: every value must be a number, got {values}")
        if name in ENTRY_KNOBS and min(values) < 0:
            raise ConfigError(f"{where}.{name}: must be >= 0, got {values}")
        if name == "freeze" and not all(float(v).is_integer() for v in values):
            raise ConfigError(f"{where}.freeze: counts stages; give whole numbers, got {values}")
        space[name] = rng
    return space


def split_values(values: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """A trial's values as (hyp overrides, entry knobs)."""
    hyp = {k: float(v) for k, v in values.items() if k in HYP_KEYS}
    knobs = {k: v for k, v in values.items() if k in ENTRY_KNOBS}
    if "freeze" in knobs:
        knobs["freeze"] = int(knobs["freeze"])
    if "backbone_lr_mult" in knobs:
        knobs["backbone_lr_mult"] = float(knobs["backbone_lr_mult"])
    return hyp, knobs
