"""``run_across``: one ordinary comparison per data set (resume, executors, tuning as for one), then the
pooled outputs. Latency is timed once per entry, on the first data set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from yololab.atomic import atomic_write_text
from yololab.config import ConfigError
from yololab.experiments.across.spec import AcrossSpec, across_from_mapping
from yololab.experiments.across.writer import write_across_report
from yololab.experiments.compare import CompareResult, run_compare
from yololab.experiments.plan.run_settings import RunSettings


@dataclass(frozen=True)
class AcrossResult:
    out_dir: Path
    per_dataset: tuple[tuple[str, CompareResult], ...]
    report: dict[str, Path]

    @property
    def failed(self) -> bool:
        return any(r.failed for _, r in self.per_dataset)


def run_across(spec: AcrossSpec, out_dir: str | Path, settings: RunSettings | None = None) -> AcrossResult:
    """Run (or continue) every data set's comparison under ``out_dir/datasets/<name>`` and pool them."""
    out = Path(out_dir)
    existing = out / "experiment.yaml"
    if existing.is_file() and "datasets" not in (yaml.safe_load(existing.read_text()) or {}):
        raise ConfigError(f"{out} holds a comparison over one data set ({existing}): give a new --out for "
                          f"a comparison over several")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "experiment.yaml",
                      yaml.safe_dump({**spec.shared, "datasets": [{"name": d.name, "data": d.data, **dict(d.overrides)}
                                                                  for d in spec.datasets]}, sort_keys=False), out)
    results = []
    for dataset, ds_spec in spec.pairs():
        results.append((dataset.name, run_compare(ds_spec, out / "datasets" / dataset.name, settings)))
    return AcrossResult(out, tuple(results), write_across_report(spec, out))


def load_across(out_dir: str | Path) -> AcrossSpec | None:
    """The folder's experiment.yaml as an :class:`AcrossSpec` (None for a one-data-set comparison)."""
    path = Path(out_dir) / "experiment.yaml"
    values = yaml.safe_load(path.read_text()) or {}
    return across_from_mapping(values, str(path)) if isinstance(values, dict) else None
