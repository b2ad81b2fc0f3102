"""``robustness:`` of an experiment: the corruptions, severities and seed every cell is also scored under
(COCO-C protocol; ``docs/robustness.md``). Typed and strict: a bad name or severity is an error naming it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yololab.config import ConfigError
from yololab.data.corruptions import BENCHMARK, NAMES, SEVERITIES


@dataclass(frozen=True)
class RobustnessSpec:
    """``corruptions``: 'all' (the 15 benchmark ones) or a list of names; ``severities``: from 1-5;
    ``seed``: where each image's corruption draws start (the same for every cell)."""

    corruptions: str | tuple[str, ...] = "all"
    severities: tuple[int, ...] = (1, 3, 5)
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("corruptions", "severities"):
            if isinstance(getattr(self, key), list):
                object.__setattr__(self, key, tuple(getattr(self, key)))

    @property
    def names(self) -> tuple[str, ...]:
        """The corruptions scored, in order ('all': the 15 of the benchmark)."""
        return BENCHMARK if self.corruptions == "all" else tuple(self.corruptions)

    @property
    def passes(self) -> int:
        """Scoring passes per cell beyond the clean one: one per corruption and severity."""
        return len(self.names) * len(self.severities)

    def pairs(self) -> list[tuple[str, int]]:
        """Every (corruption, severity) scored, corruption-major."""
        return [(c, s) for c in self.names for s in self.severities]

    def check(self, where: str = "robustness") -> None:
        """Raise ConfigError naming the key of the first bad value."""
        if isinstance(self.corruptions, str):
            if self.corruptions != "all":
                raise ConfigError(f"{where}: corruptions must be 'all' or a list of names, got {self.corruptions!r}")
        else:
            bad = [c for c in self.corruptions if c not in NAMES]
            if bad or not self.corruptions:
                raise ConfigError(f"{where}: corruptions: {bad[0]!r} is not a corruption; expected 'all' or names "
                                  f"from {', '.join(NAMES)}" if bad else f"{where}: corruptions lists none")
            if len(set(self.corruptions)) != len(self.corruptions):
                raise ConfigError(f"{where}: corruptions lists a name twice: {list(self.corruptions)}")
        if not self.severities or any(isinstance(s, bool) or s not in SEVERITIES for s in self.severities) \
                or len(set(self.severities)) != len(self.severities):
            raise ConfigError(f"{where}: severities must be distinct integers from 1 to 5, got "
                              f"{list(self.severities)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"{where}: seed must be a non-negative integer, got {self.seed!r}")

    def cost_line(self, cells: int) -> str:
        """What ``robustness:`` costs: the scoring passes it adds per cell and in all."""
        return (f"robustness: {len(self.names)} corruption(s) x {len(self.severities)} severities = {self.passes} "
                f"extra scoring pass(es) per cell, {self.passes * cells} for {cells} cell(s) (the clean pass: 1 per cell)")

    def describe(self) -> dict[str, Any]:
        """The protocol card's record: the corruptions (resolved), severities and seed."""
        return {"corruptions": list(self.names), "severities": list(self.severities), "seed": self.seed}
