"""What an evaluation returns: COCO metrics as a typed record, and the validation result around them.

COCO reports -1 for a statistic with no ground truth (e.g. APl on small images); here that is None, so
no caller has to read the raw stats to tell "no objects of that size" from "AP 0".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# Names of COCOeval.stats[:12], in order.
STAT_KEYS = (
    "map50_95", "map50", "map75", "map_small", "map_medium", "map_large",
    "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large",
)  # fmt: skip


@dataclass(frozen=True)
class ClassAP:
    """AP of one class at area "all", 100 detections per image: what an evaluation measures and what the
    comparison's tables show (there averaged over seeds; None where a results file does not say)."""

    ap50_95: float | None = None
    ap50: float | None = None
    instances: int | None = None


@dataclass(frozen=True)
class CocoMetrics:
    """The 12 COCO bbox statistics by name (None where COCO has no value), per-class AP and counts."""

    map50_95: float
    map50: float
    map75: float
    map_small: float | None
    map_medium: float | None
    map_large: float | None
    ar1: float | None
    ar10: float | None
    ar100: float | None
    ar_small: float | None
    ar_medium: float | None
    ar_large: float | None
    per_class: dict[str, ClassAP] = field(default_factory=dict)
    num_images: int = 0
    num_detections: int = 0
    stats: tuple[float, ...] = ()  # COCO's raw 12 numbers (-1: no ground truth in that range)
    map_tiny: float | None = None  # AP of objects < 16^2 px (AI-TOD, VisDrone); None: no such objects

    @classmethod
    def from_stats(cls, stats: Iterable[float], per_class: Mapping[str, ClassAP], num_images: int,
                   num_detections: int, map_tiny: float | None = None) -> CocoMetrics:
        """From COCOeval's 12 raw ``stats`` (their -1 decides what is None), the per-class AP and the AP of
        tiny objects (negative: none)."""
        raw = tuple(float(v) for v in stats)
        values = {k: (None if v < 0 else v) for k, v in zip(STAT_KEYS, raw)}
        for k in ("map50_95", "map50", "map75"):  # the headline numbers are always defined (0 without GT)
            values[k] = values[k] or 0.0
        return cls(**values, per_class=dict(per_class), num_images=int(num_images),
                   num_detections=int(num_detections), stats=raw,
                   map_tiny=None if map_tiny is None or map_tiny < 0 else float(map_tiny))

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``yololab val --json``, checkpoints, train.json): the same names as the fields."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("per_class", "stats")}
        out["stats"] = list(self.stats)
        out["per_class"] = {n: {"ap50_95": c.ap50_95, "ap50": c.ap50, "instances": c.instances}
                            for n, c in self.per_class.items()}
        return out


@dataclass(frozen=True)
class ValResult:
    """One validation run: metrics, the COCO detections and ground truth they were computed from, timings."""

    metrics: CocoMetrics
    detections: list[dict]
    ground_truth: dict
    speed_ms_per_image: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Metrics and timings without the raw detections and ground truth (what ``--json`` writes)."""
        return {**self.metrics.as_dict(), "speed_ms_per_image": dict(self.speed_ms_per_image),
                "seconds": self.seconds}
