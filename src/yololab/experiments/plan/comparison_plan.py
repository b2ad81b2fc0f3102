"""The comparison resolved once: the checked spec and, for every cell, its variant, TrainConfig and folder.

``plan_comparison`` is the one place where a cell's model variant and TrainConfig are worked out;
the phases, the executors, ``run_cell`` and the protocol card read them from the plan.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yololab.atomic import confined_folder
from yololab.config import ConfigError, from_mapping, load_yaml_config
from yololab.experiments.plan import packing
from yololab.experiments.plan.cell_config import cell_train_config
from yololab.experiments.plan.layout import CellPaths, cell_paths
from yololab.experiments.plan.run_settings import ExecutorName, RunSettings
from yololab.experiments.plan.spec import Cell, ExperimentSpec, expand_cells, parse_devices, validate_spec
from yololab.models.zoo import ModelVariant
from yololab.train.config import TrainConfig

LOG = logging.getLogger("yololab")
SpecSource = ExperimentSpec | str | Path | dict


@dataclass(frozen=True)
class ResolvedCell:
    """A cell with everything worked out: its model variant, its TrainConfig and its folder.
    The config is the one the result depends on; ``run_cell`` adds the device and progress bars."""

    cell: Cell
    variant: ModelVariant
    config: TrainConfig
    paths: CellPaths

    @property
    def cell_id(self) -> str:
        return self.cell.cell_id

    def moved_to(self, out_dir: str | Path) -> ResolvedCell:
        """The same cell run in another comparison folder (a Ray node's own work folder)."""
        paths = cell_paths(out_dir, self.cell)
        return dataclasses.replace(self, paths=paths, config=dataclasses.replace(self.config, out=str(paths.root)))


@dataclass(frozen=True)
class ComparisonPlan:
    """A checked spec (data path resolved, one device entry per worker), its folder, executor and cells."""

    spec: ExperimentSpec
    out: Path
    executor: ExecutorName
    cells: tuple[ResolvedCell, ...]

    def with_cells(self, cells: Sequence[Cell]) -> ComparisonPlan:
        """This plan for other cells of its models (the tuned ones)."""
        variants = {c.variant.name: c.variant for c in self.cells}
        return dataclasses.replace(self, cells=resolve_cells(self.spec, cells, self.out, variants))


def plan_comparison(source: SpecSource, out_dir: str | Path, settings: RunSettings | None = None) -> ComparisonPlan:
    """Check the spec once and resolve every cell of it under ``out_dir`` (made here)."""
    settings = settings or RunSettings()
    spec, variants = _checked_spec(source, settings.devices)
    out = Path(out_dir).resolve()
    cells = resolve_cells(spec, expand_cells(spec, variants), out, {v.name: v for v in variants.values()})
    per_device = packing.resolve_cells_per_device(spec, [c.config for c in cells])
    executor = settings.executor
    if per_device > 1:
        spec.devices = packing.expand_devices(spec.devices, per_device)
        if executor == "local":
            LOG.info("cells_per_device %d: running the cells in a process pool", per_device)
            executor = "process"
    out.mkdir(parents=True, exist_ok=True)
    for resolved in cells:  # a cell folder that is a link elsewhere is refused before any cell runs
        confined_folder(resolved.paths.root, out, create=False)
    return ComparisonPlan(spec, out, executor, cells)


def resolve_cells(spec: ExperimentSpec, cells: Sequence[Cell], out: Path,
                  variants: dict[str, ModelVariant]) -> tuple[ResolvedCell, ...]:
    """Each cell's variant (``variants`` by zoo name, which is ``Cell.model``), TrainConfig and folder."""
    resolved = []
    for cell in cells:
        paths = cell_paths(out, cell)
        resolved.append(ResolvedCell(cell, variants[cell.model], cell_train_config(spec, cell, paths.root), paths))
    return tuple(resolved)


def prepare_spec(source: SpecSource, devices: str | Sequence[str] | None = None) -> ExperimentSpec:
    """The checked spec with its data path resolved and ``devices`` (if given) applied and checked."""
    return _checked_spec(source, devices)[0]


def _checked_spec(source: SpecSource, devices: str | Sequence[str] | None) -> tuple[ExperimentSpec,
                                                                                    dict[str, ModelVariant]]:
    spec, source_name = _read_spec(source)
    variants = validate_spec(spec, source_name)
    spec.data = str(Path(spec.data).expanduser().resolve())
    if devices is not None:
        spec.devices = parse_devices(devices) if isinstance(devices, str) else [str(d) for d in devices]
    check_devices(spec.devices)
    return spec, variants


def _read_spec(source: SpecSource) -> tuple[ExperimentSpec, str]:
    """A copy of the spec (read from YAML or a mapping when given so), not yet checked, and its name."""
    if isinstance(source, ExperimentSpec):
        return dataclasses.replace(source), "experiment"
    if isinstance(source, dict):
        return from_mapping(ExperimentSpec, source, "experiment"), "experiment"
    return load_yaml_config(ExperimentSpec, source), str(source)


def check_devices(devices: list[str]) -> None:
    if any(d != "cpu" for d in devices):
        import torch

        count = torch.cuda.device_count()
        missing = [d for d in devices if d != "cpu" and int(d) >= count]
        if missing:
            raise ConfigError(f"CUDA device(s) {missing} requested but {count} visible; on CPU use "
                              f"--devices cpu,cpu (one worker per entry)")
