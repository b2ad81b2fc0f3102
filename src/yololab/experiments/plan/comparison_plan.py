"""The comparison resolved once: the checked spec and, for every cell, its variant, TrainConfig and folder.

``resolve_plan`` is the one place where a spec is made and checked and where a cell's model variant and
TrainConfig (``cell_train_config``) are worked out; the phases, the executors, ``run_cell``, tuning and the
protocol card read the plan. A cell folder that is a link elsewhere is refused by the run's first phase.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yololab.config import ConfigError, from_mapping, read_yaml_mapping
from yololab.experiments.plan import packing
from yololab.experiments.plan.layout import CellPaths, cell_paths
from yololab.experiments.plan.run_settings import ExecutorName, RunSettings
from yololab.experiments.plan.spec import Cell, ExperimentSpec, expand_cells, validate_spec
from yololab.models.zoo import ModelVariant
from yololab.train.config import TrainConfig

LOG = logging.getLogger("yololab")


@dataclass(frozen=True)
class SpecFile:
    """An experiment YAML as a command line named it: ``flag`` (e.g. '--config') leads the file's own errors;
    ``overrides``: the spec keys given as flags, each in place of the file's own."""

    path: Path
    flag: str = ""
    overrides: Mapping[str, object] = field(default_factory=dict)


SpecSource = ExperimentSpec | SpecFile | str | Path | Mapping


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
    """A checked spec (data path resolved, one device entry per worker), its folder, executor and cells;
    ``tuning_cells``: the first-seed cell of each model x backbone entry (what a tuning trial trains)."""

    spec: ExperimentSpec
    out: Path
    executor: ExecutorName
    cells: tuple[ResolvedCell, ...]
    tuning_cells: tuple[Cell, ...] = ()

    def with_cells(self, cells: Sequence[Cell]) -> ComparisonPlan:
        """This plan for other cells of its models (the tuned ones)."""
        variants = {c.variant.name: c.variant for c in self.cells}
        return dataclasses.replace(self, cells=resolve_cells(self.spec, cells, self.out, variants))


def resolve_plan(source: SpecSource, out_dir: str | Path, settings: RunSettings | None = None, *,
                 source_name: str | None = None, run: bool = True) -> ComparisonPlan:
    """The one entry point from a spec (a mapping, a YAML path, a SpecFile or an ExperimentSpec) to a comparison,
    in one pass: the spec made once (the file read once, data path resolved, ``settings.devices`` applied),
    checked once, its cells expanded, and every cell resolved under ``out_dir``.
    ``run``: the plan is to be run here, so its devices are checked against this machine, packed
    (``cells_per_device``) and ``out_dir`` made; False (``--report-only``): the spec as written."""
    settings = settings or RunSettings()
    spec, name = _read_spec(source, settings.devices if run else None, source_name)
    variants = validate_spec(spec, name)
    expanded = expand_cells(spec, variants)
    if run:
        check_devices(spec.devices)
    out = Path(out_dir).resolve()
    cells = resolve_cells(spec, expanded, out, {v.name: v for v in variants.values()})
    first_seed: dict[tuple[str, str], Cell] = {}  # what a tuning trial of each entry trains
    for resolved in cells:
        first_seed.setdefault(resolved.cell.group, resolved.cell)
    executor = settings.executor
    if run:
        per_device = packing.resolve_cells_per_device(spec, [c.config for c in cells])
        if per_device > 1:  # the plan's spec names each device once per worker (no cell's config reads devices)
            spec = dataclasses.replace(spec, devices=tuple(packing.expand_devices(spec.devices, per_device)))
            if executor == "local":
                LOG.info("cells_per_device %d: running the cells in a process pool", per_device)
                executor = "process"
        out.mkdir(parents=True, exist_ok=True)
    return ComparisonPlan(spec, out, executor, cells, tuple(first_seed.values()))


def resolve_cells(spec: ExperimentSpec, cells: Sequence[Cell], out: Path,
                  variants: dict[str, ModelVariant]) -> tuple[ResolvedCell, ...]:
    """Each cell's variant (``variants`` by zoo name, which is ``Cell.model``), TrainConfig and folder."""
    resolved = []
    for cell in cells:
        paths = cell_paths(out, cell)
        resolved.append(ResolvedCell(cell, variants[cell.model], cell_train_config(spec, cell, paths.root), paths))
    return tuple(resolved)


def cell_train_config(spec: ExperimentSpec, cell: Cell, out: Path, device: str = "cpu",
                      progress: bool = True, concurrent: int = 1) -> TrainConfig:
    """The resolved TrainConfig of a cell: shared spec settings + the cell's backbone entry and seed."""
    entry = cell.backbone
    pretrained: bool | str = entry.pretrained
    if isinstance(pretrained, str):
        pretrained = str(Path(pretrained).expanduser().resolve())
    values = dict(spec.train)
    values.update(model=cell.model, backbone=cell.backbone_arg, data=str(Path(spec.data).expanduser().resolve()),
                  epochs=spec.epochs, imgsz=spec.imgsz, batch=spec.batch, workers=spec.workers,
                  seed=cell.seed + entry.seed_offset,
                  device=device, out=str(out), pretrained_backbone=pretrained, freeze=entry.freeze,
                  backbone_lr_mult=float(entry.backbone_lr_mult), hyp=spec.entry_hyp(entry), augment=spec.augment,
                  resume=False, progress=progress, cache=spec.cache, cache_processes=concurrent, tiles=spec.tiles)
    return from_mapping(TrainConfig, values, f"cell {cell.cell_id}")


def _read_spec(source: SpecSource, devices: str | Sequence[str] | None,
               source_name: str | None) -> tuple[ExperimentSpec, str]:
    """The spec, made once from ``source`` with its data path resolved and ``devices`` (if given: '0,1',
    'cpu*2' or a list, parsed by the spec as its own would be) in place of its own, not yet checked, and the
    name its errors give."""
    if isinstance(source, ExperimentSpec):
        values, name = {}, source_name or "experiment"
    elif isinstance(source, Mapping):
        values, name = dict(source), source_name or "experiment"
    elif isinstance(source, SpecFile):
        values = {**read_yaml_mapping(source.path, source.flag), **source.overrides}
        name = source_name or str(source.path)
    else:
        values, name = read_yaml_mapping(source), source_name or str(source)
    data = source.data if isinstance(source, ExperimentSpec) else values.get("data")
    if isinstance(data, (str, Path)) and str(data):
        values["data"] = str(Path(data).expanduser().resolve())
    if devices is not None:
        values["devices"] = devices if isinstance(devices, str) else [str(d) for d in devices]
    if isinstance(source, ExperimentSpec):
        return dataclasses.replace(source, **values), name
    return from_mapping(ExperimentSpec, values, name), name


def check_devices(devices: Sequence[str]) -> None:
    if any(d != "cpu" for d in devices):
        import torch

        count = torch.cuda.device_count()
        missing = [d for d in devices if d != "cpu" and int(d) >= count]
        if missing:
            raise ConfigError(f"CUDA device(s) {missing} requested but {count} visible; on CPU use "
                              f"--devices cpu,cpu (one worker per entry)")
