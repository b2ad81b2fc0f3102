"""``datasets:`` in an experiment file: the data sets one comparison runs on, each checked into its own spec.

Every entry x seed runs on every data set with the same recipe; latency is timed on the first only. Only the settings named in
:data:`PER_DATASET` may differ per data set, and only where the file says so; the table states them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yololab.config import ConfigError
from yololab.experiments.plan.spec import ExperimentSpec, safe_id, spec_from_mapping

#: what a data set entry may set for itself (besides its name and data)
PER_DATASET = ("score_split", "imgsz", "epochs", "eval_imgsz")


@dataclass(frozen=True)
class DatasetEntry:
    """One data set of a comparison: its name (a folder name in the table and the output) and its data."""

    name: str
    data: str
    overrides: tuple[tuple[str, Any], ...] = ()   # (setting, value) for the settings of PER_DATASET it sets

    def stated(self) -> str:
        """What this data set sets apart from the shared recipe, as the table's note says it."""
        return ", ".join(f"{k} {v}" for k, v in self.overrides)


@dataclass(frozen=True)
class AcrossSpec:
    """The data sets and, for each, its checked :class:`ExperimentSpec` (same recipe, its own data)."""

    name: str
    datasets: tuple[DatasetEntry, ...]
    specs: tuple[ExperimentSpec, ...]
    shared: Mapping[str, Any]          # the experiment mapping without ``datasets`` (written to experiment.yaml)

    def pairs(self) -> list[tuple[DatasetEntry, ExperimentSpec]]:
        return list(zip(self.datasets, self.specs))


def _entry(item: Any, index: int, source: str) -> DatasetEntry:
    where = f"{source}: datasets[{index}]"
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'name' and 'data', got {item!r}")
    unknown = sorted(set(item) - {"name", "data", *PER_DATASET})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; a data set sets only "
                          f"'name', 'data' and {', '.join(map(repr, PER_DATASET))}")
    name, data = item.get("name"), item.get("data")
    if not isinstance(name, str) or not name or safe_id(name) != name:
        raise ConfigError(f"{where}: 'name' must be a short name of letters, digits, '-', '_' or '.', got {name!r}")
    if not isinstance(data, str) or not data:
        raise ConfigError(f"{where} ({name}): 'data' must be a data YAML, VOC folder or COCO JSON path, got {data!r}")
    return DatasetEntry(name, data, tuple((k, item[k]) for k in PER_DATASET if k in item))


def across_from_mapping(values: Mapping[str, Any], source: str = "experiment") -> AcrossSpec | None:
    """The experiment's data sets checked, each into its own spec; None when it has no ``datasets:``."""
    if "datasets" not in values:
        return None
    items = values["datasets"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: 'datasets' must be a non-empty list of {{name, data}} mappings")
    if values.get("data"):
        raise ConfigError(f"{source}: give either 'data' (one data set) or 'datasets' (several), not both")
    entries = tuple(_entry(item, i, source) for i, item in enumerate(items))
    names = [e.name for e in entries]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{source}: data set name(s) {', '.join(map(repr, repeated))} appear more than once")
    shared = {k: v for k, v in values.items() if k != "datasets"}
    # latency is a property of the entry, not of the data: timed once, on the first data set
    specs = tuple(spec_from_mapping({**shared, "data": e.data, **dict(e.overrides),
                                     **({"latency_backends": []} if i else {})}, f"{source}: data set {e.name}")
                  for i, e in enumerate(entries))
    return AcrossSpec(str(values.get("name", "compare")), entries, specs, shared)
