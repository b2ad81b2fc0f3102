"""``ExperimentSpec``: one comparison (models x backbones x seeds) as a typed, strictly checked YAML.

Everything except the per-backbone entry (name, pretrained, freeze, backbone_lr_mult) is shared
by every cell, so a table row differs from another only in what its backbone entry says.
Scoring: ``checkpoint: best`` is chosen on val by the trainer; ``score_split: auto`` scores on
``test`` when the data has one (else on val, which the report calls optimistic).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from yololab.config import ConfigError, check_seed, coerce, from_mapping, load_yaml_config
from yololab.data.augment import AugmentConfig
from yololab.data.tiling.tiles import TileSettings, parse_tiles
from yololab.experiments.results import latency_backends
from yololab.experiments.results.columns import check_columns
from yololab.experiments.plan.robustness_spec import RobustnessSpec
from yololab.experiments.plan.tune_space import TuneSpec
from yololab.experiments.plan.slicing_spec import SlicingSpec, parse_slicing
from yololab.train.hyp import Hyperparameters

if TYPE_CHECKING:
    from yololab.models.zoo import ModelVariant

NATIVE = "native"  # the family's own backbone (CSPDarknet for YOLOv5, ELAN for YOLOv7)
LATENCY_BACKENDS = latency_backends.SPEC_NAMES  # as yololab bench names them (latency_backends: the table)
ScoreSplit = Literal["auto", "val", "test"]
CheckpointChoice = Literal["best", "last"]
CacheKind = Literal["auto", "ram", "disk", "none"]
# TrainConfig fields that the spec or the cell sets; ``train:`` may not override them.
MANAGED_TRAIN_KEYS = {
    "model": "models", "backbone": "backbones", "data": "data", "epochs": "epochs", "imgsz": "imgsz",
    "batch": "batch", "workers": "workers", "seed": "seeds", "device": "devices", "out": "--out",
    "resume": "(automatic)", "pretrained_backbone": "backbones[].pretrained", "freeze": "backbones[].freeze",
    "backbone_lr_mult": "backbones[].backbone_lr_mult", "hyp": "hyp", "augment": "augment",
    "progress": "(automatic)", "cache": "cache", "cache_processes": "cells_per_device (automatic)",
    "tiles": "tiles",
}


@dataclass(frozen=True)
class BackboneEntry:
    """One backbone column of the comparison and the only settings allowed to differ between cells."""

    name: str = NATIVE
    pretrained: bool | str = False      # False: from scratch; True: hub weights; a path: local weights
    freeze: int = 0                     # freeze the first N backbone stages
    backbone_lr_mult: float = 1.0       # lr multiplier of the backbone's parameters
    label: str | None = None            # name in tables and cell ids (default: the backbone name)
    seed_offset: int = 0                # trains seed k as k + offset (paired by k): the same entry twice, independently (A/A check)
    hyp: dict = field(default_factory=dict)  # this entry's overrides of the shared hyp (what ``tune:`` chose)

    @property
    def is_native(self) -> bool:
        return self.name == NATIVE

    def init_label(self) -> str:
        """'scratch', 'pretrained' (hub) or the weights file's name."""
        if self.pretrained is False:
            return "scratch"
        if self.pretrained is True:
            return "pretrained"
        return Path(str(self.pretrained)).name


@dataclass(frozen=True)
class TableSpec:
    """The report's main table (results.tex, results.md, the top of report.html)."""

    columns: tuple[str, ...] | None = None   # column names (yololab.experiments.report.tables.column_names()); None: compact

    def __post_init__(self) -> None:
        if isinstance(self.columns, list):
            object.__setattr__(self, "columns", tuple(self.columns))

    def check(self, where: str) -> None:
        """Raise ConfigError unless ``columns`` is unset or a list of known column names."""
        if self.columns is None:
            return
        if isinstance(self.columns, str) or not all(isinstance(c, str) for c in self.columns):
            raise ConfigError(f"{where}.columns must be a list of column names")
        try:
            check_columns(self.columns, f"{where}.columns")
        except ValueError as err:
            raise ConfigError(str(err)) from None


@dataclass(frozen=True)
class ExperimentSpec:
    """A comparison: every model x backbone x seed is one cell, trained and scored the same way.

    Frozen, its lists stored as tuples: made once (``comparison_plan.resolve_plan``) and never changed."""

    name: str = "compare"
    data: str = ""                                        # data YAML, VOC folder or COCO JSON (see split_source)
    models: tuple[str, ...] = ("yolov5s",)
    backbones: tuple[str | BackboneEntry, ...] = (NATIVE,)  # names or mappings
    seeds: tuple[int, ...] = (0,)
    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    workers: int = 2                                      # data-loader workers per cell
    cache: CacheKind = "auto"                                   # decoded images: 'auto', 'ram', 'disk' or 'none' (shared by every cell)
    cells_per_device: int | str = "auto"                  # cells trained at once per device ('auto': 1 on CPU, as many as fit on a GPU)
    devices: str | tuple[str, ...] = "auto"                   # 'auto' (GPU 0 if any, else cpu), 'cpu', '0,1,2,3' (one cell per device)
    hyp: Hyperparameters = field(default_factory=Hyperparameters)  # shared optimizer/loss settings
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # shared augmentation strengths
    tiles: TileSettings | None = None                     # tiled training of every cell (yololab.data.tiling.tiles)
    train: dict = field(default_factory=dict)             # other shared TrainConfig fields (cos_lr, patience...)
    eval_imgsz: int | None = None                         # size for mAP, GFLOPs, latency (default: imgsz)
    eval_batch: int = 16
    latency_runs: int = 50                                # timed runs per backend (median reported)
    latency_warmup: int = 10
    latency_backends: tuple[str, ...] = tuple(LATENCY_BACKENDS)
    score_split: ScoreSplit = "auto"                             # 'auto' (test if the data has one, else val), 'val', 'test'
    checkpoint: CheckpointChoice = "best"                              # 'best' (chosen on val by the trainer) or 'last'
    reference: str | None = None                          # backbone entry compared against (default: native)
    bootstrap: int = 1000                                 # resamples of the paired bootstrap (report phase)
    table: TableSpec = field(default_factory=TableSpec)  # main table columns: table: {columns: [model, ...]}
    tune: TuneSpec | None = None                          # an equal tuning budget per entry, run before the seeds
    slicing: SlicingSpec | None = None                    # score every cell sliced (SAHI): {size, overlap, merge, ...}
    max_det: int | None = None                            # detections per image COCO scores (default 100; VisDrone 500)
    robustness: RobustnessSpec | None = None              # also score every cell under corruptions (mPC, rPC)

    def __post_init__(self) -> None:
        def put(key: str, value: Any) -> None:
            object.__setattr__(self, key, value)

        put("backbones", tuple(parse_backbone(b, i) for i, b in enumerate(_as_list(self.backbones))))
        for key, cls in (("hyp", Hyperparameters), ("augment", AugmentConfig), ("table", TableSpec), ("tune", TuneSpec)):
            if isinstance(getattr(self, key), dict):
                put(key, from_mapping(cls, getattr(self, key), key))
        if isinstance(self.robustness, dict):
            put("robustness", from_mapping(RobustnessSpec, self.robustness, "robustness"))
        if isinstance(self.devices, (int, str)):
            put("devices", tuple(parse_devices(str(self.devices))))
        else:
            put("devices", tuple(str(d) for d in self.devices))
        for key in ("models", "seeds"):
            put(key, tuple(_as_list(getattr(self, key))))
        put("latency_backends", tuple(_spec_backend(b) for b in _as_list(self.latency_backends)))
        put("slicing", parse_slicing(self.slicing))
        put("tiles", parse_tiles(self.tiles, "experiment"))

    @property
    def resolved_eval_imgsz(self) -> int:
        """The size every cell is scored, counted (GFLOPs) and timed at."""
        return self.eval_imgsz or self.imgsz

    @property
    def whole_model_weights(self) -> str | None:
        """``train: {weights: ...}``: the checkpoint every cell starts from, if any."""
        return self.train.get("weights")

    def to_dict(self) -> dict:
        """Plain data (for YAML/JSON): lists, backbone entries as mappings."""
        data = _plain(dataclasses.asdict(self))
        data["tune"] = self.tune.describe() if self.tune is not None else None
        data["slicing"] = self.slicing.describe() if self.slicing is not None else None
        return data

    def entry_hyp(self, entry: BackboneEntry) -> Hyperparameters:
        """The shared hyp with ``entry``'s overrides (tuned values) applied."""
        return dataclasses.replace(self.hyp, **entry.hyp) if entry.hyp else self.hyp


@dataclass(frozen=True)
class Cell:
    """One training run of the comparison."""

    model: str
    backbone: BackboneEntry
    backbone_name: str          # resolved: 'native' becomes the family's own backbone
    label: str                  # table label of the backbone
    seed: int
    reference: str | None = None  # table label of the entry this cell's row is compared with

    @property
    def cell_id(self) -> str:
        return safe_id(f"{self.model}_{self.label}_s{self.seed}")

    @property
    def backbone_arg(self) -> str | None:
        """What TrainConfig.backbone gets (None: the family's own, upstream-exact)."""
        return None if self.backbone.is_native else self.backbone.name

    @property
    def group(self) -> tuple[str, str]:
        """Cells that differ only in the seed share a group (aggregated as mean and std)."""
        return (self.model, self.label)


def _as_list(value: Any) -> list:
    """A list or tuple as a list; one value as a list of it."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _plain(value: Any) -> Any:
    """Tuples (and nested ones) as lists, for YAML."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _spec_backend(name: object) -> object:
    """A backend given by its result name ('torch_cpu') as the spec names it ('torch'); others unchanged
    (``validate_spec`` names the unknown ones)."""
    try:
        return latency_backends.spec_name(str(name))
    except KeyError:
        return name


def safe_id(text: str) -> str:
    """A folder-safe id: 'yolov5n_timm:resnet18_s0' -> 'yolov5n_timm-resnet18_s0'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def parse_devices(text: str | None) -> list[str]:
    """'0,1' -> ['0', '1']; 'cpu' -> ['cpu']; 'cpu,cpu' -> two CPU workers; 'cpu*2' likewise;
    'auto' (or nothing) -> ['0'] when CUDA is available, else ['cpu']."""
    if not text or str(text).strip().lower() == "auto":
        import torch

        return ["0"] if torch.cuda.is_available() else ["cpu"]
    devices: list[str] = []
    for part in str(text).split(","):
        part = part.strip().lower().removeprefix("cuda:")
        if not part:
            continue
        name, _, count = part.partition("*")
        if name != "cpu" and not name.isdigit():
            raise ConfigError(f"devices: {part!r} is neither 'cpu' nor a CUDA device index")
        devices += [name] * (int(count) if count else 1)
    return devices or ["cpu"]


def parse_backbone(entry: Any, index: int = 0) -> BackboneEntry:
    """A backbone list item: a name ('resnet50') or a mapping with BackboneEntry's keys."""
    if isinstance(entry, BackboneEntry):
        return entry
    if entry is None:
        return BackboneEntry()
    if isinstance(entry, str):
        return BackboneEntry(name=entry.strip())
    if isinstance(entry, dict):
        values = dict(entry)
        if "name" not in values:
            raise ConfigError(f"backbones[{index}]: a mapping needs a 'name' (got keys {sorted(values)})")
        return from_mapping(BackboneEntry, values, f"backbones[{index}]")
    raise ConfigError(f"backbones[{index}]: expected a name or a mapping, got {type(entry).__name__}")


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and check an experiment YAML (a misspelt key is an error that names it)."""
    spec = load_yaml_config(ExperimentSpec, path)
    validate_spec(spec, str(path))
    return spec


def spec_from_mapping(values: dict, source: str = "experiment") -> ExperimentSpec:
    spec = from_mapping(ExperimentSpec, values, source)
    validate_spec(spec, source)
    return spec


def model_variants(spec: ExperimentSpec, source: str = "experiment") -> dict[str, ModelVariant]:
    """Each of the spec's models as its zoo variant (the one place a spec's model names are looked up)."""
    from yololab.models.zoo import get_variant

    variants = {}
    for model in spec.models:
        try:
            variants[model] = get_variant(model)
        except KeyError as err:
            raise ConfigError(f"{source}: models: {err.args[0]}") from None
    return variants


def validate_spec(spec: ExperimentSpec, source: str = "experiment") -> dict[str, ModelVariant]:
    """Raise ConfigError naming the first bad value; model and backbone names are checked here.
    Returns the models' variants (looked up once, here)."""
    from yololab.backbones import list_backbones
    from yololab.train.config import TrainConfig

    if not spec.data:
        raise ConfigError(f"{source}: 'data' (a data YAML, VOC folder or COCO JSON) is required")
    if not spec.models or not spec.backbones or not spec.seeds:
        raise ConfigError(f"{source}: 'models', 'backbones' and 'seeds' must each list at least one entry")
    variants = model_variants(spec, source)
    names = list_backbones()
    prefixes = {n.split(":")[0] for n in names if n.endswith(":<name>")}
    for i, entry in enumerate(spec.backbones):
        plain = entry.name == NATIVE or entry.name in names
        prefixed = ":" in entry.name and entry.name.split(":", 1)[0] in prefixes
        if not (plain or prefixed):
            raise ConfigError(f"{source}: backbones[{i}]: unknown backbone {entry.name!r}; valid: "
                              f"{NATIVE}, {', '.join(names)}")
        if not isinstance(entry.freeze, int) or entry.freeze < 0:
            raise ConfigError(f"{source}: backbones[{i}].freeze must be an integer >= 0")
        if entry.hyp:
            from_mapping(Hyperparameters, {**spec.hyp.to_dict(), **entry.hyp}, f"{source}: backbones[{i}].hyp")
    labels = [b.label or b.name for b in spec.backbones]
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dupes:
        raise ConfigError(f"{source}: backbone label(s) {dupes} appear more than once; give each entry a "
                          f"distinct 'label'")
    if len(set(spec.seeds)) != len(spec.seeds) or not all(isinstance(s, int) for s in spec.seeds):
        raise ConfigError(f"{source}: seeds must be distinct integers, got {list(spec.seeds)}")
    for seed in spec.seeds:  # trained as seed + the entry's seed_offset (a 20-digit seed failed in the cell)
        for entry in spec.backbones:
            check_seed(seed + entry.seed_offset, f"{source}: seeds" + (
                f" (with {entry.label or entry.name}'s seed_offset {entry.seed_offset})" if entry.seed_offset else ""))
    for key in ("imgsz", "eval_imgsz"):
        value = getattr(spec, key)
        if value is not None and (value <= 0 or value % 32):
            raise ConfigError(f"{source}: {key} must be a positive multiple of 32, got {value}")
    for key in ("epochs", "batch", "eval_batch", "latency_runs"):
        if getattr(spec, key) < 1:
            raise ConfigError(f"{source}: {key} must be >= 1")
    for key in spec.train:
        if key in MANAGED_TRAIN_KEYS:
            raise ConfigError(f"{source}: train: {key!r} is set by the experiment; use {MANAGED_TRAIN_KEYS[key]}")
    from_mapping(TrainConfig, spec.train, f"{source}: train")  # unknown keys and wrong types
    for key, choice in (("cache", CacheKind), ("score_split", ScoreSplit), ("checkpoint", CheckpointChoice)):
        coerce(getattr(spec, key), choice, f"{source}: {key}")  # a spec built in Python is checked the same way
    cpd = spec.cells_per_device
    if cpd != "auto" and (isinstance(cpd, bool) or not isinstance(cpd, int) or cpd < 1):
        raise ConfigError(f"{source}: cells_per_device must be 'auto' or an integer >= 1, got {cpd!r}")
    if not isinstance(spec.bootstrap, int) or spec.bootstrap < 1:
        raise ConfigError(f"{source}: bootstrap (resamples) must be an integer >= 1, got {spec.bootstrap!r}")
    for variant in variants.values():
        reference_entry(spec, variant.native_backbone, source)
    spec.table.check(f"{source}: table")
    if spec.tune is not None:
        spec.tune.check(f"{source}: tune")
    if spec.slicing is not None:
        spec.slicing.check(f"{source}: slicing")
    if spec.max_det is not None and (isinstance(spec.max_det, bool) or not isinstance(spec.max_det, int)
                                     or spec.max_det < 1):
        raise ConfigError(f"{source}: max_det (detections per image COCO scores) must be an integer >= 1, "
                          f"got {spec.max_det!r}")
    if spec.robustness is not None:
        spec.robustness.check(f"{source}: robustness")
    bad = [b for b in spec.latency_backends if b not in LATENCY_BACKENDS]
    if bad:
        raise ConfigError(f"{source}: latency_backends: unknown {bad}; choose from {list(LATENCY_BACKENDS)}")
    return variants


def expand_cells(spec: ExperimentSpec, variants: dict[str, ModelVariant] | None = None) -> list[Cell]:
    """models x backbones x seeds, in that nesting order (all seeds of a pair are adjacent);
    ``variants``: the models' variants as ``validate_spec`` returned them (else looked up here)."""
    variants = variants or model_variants(spec)
    cells = []
    for model in spec.models:
        variant = variants[model]
        ref = reference_entry(spec, variant.native_backbone)
        reference = ref.label or (variant.native_backbone if ref.is_native else ref.name)
        for entry in spec.backbones:
            name = variant.native_backbone if entry.is_native else entry.name
            label = entry.label or name
            for seed in spec.seeds:
                cells.append(Cell(variant.name, entry, name, label, int(seed), reference))
    ids = [c.cell_id for c in cells]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"cell ids collide after making them folder-safe: {ids}; set distinct labels")
    return cells


def reference_entry(spec: ExperimentSpec, native_backbone: str | None = None,
                    source: str = "experiment") -> BackboneEntry:
    """The entry every other one is compared with: ``reference`` (a label, a name, or the family's own
    backbone name such as 'cspdarknet'), else the first native entry, else the first entry."""
    if spec.reference is None:
        return next((b for b in spec.backbones if b.is_native), spec.backbones[0])
    for match in (lambda b: b.label == spec.reference, lambda b: b.name == spec.reference,
                  lambda b: b.is_native and native_backbone == spec.reference):
        found = [b for b in spec.backbones if match(b)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ConfigError(f"{source}: reference {spec.reference!r} matches {len(found)} backbone entries; "
                              f"give them distinct 'label's and name one")
    choices = sorted({b.label or b.name for b in spec.backbones})
    raise ConfigError(f"{source}: reference {spec.reference!r} names no backbone entry; choose a label or name "
                      f"from {choices}")


def split_source(spec: ExperimentSpec, split: str) -> tuple[str, str | None]:
    """(data, image_dir) that hold ``split``: the data YAML or VOC folder itself; for COCO JSON data (the
    training file, with ``train: {image_dir, val_data, val_image_dir}`` as for ``yololab train``), the
    training JSON for 'train' and ``val_data`` (else the training JSON) for the other splits."""
    from yololab.data.source import is_coco_json

    if not is_coco_json(spec.data):
        return spec.data, None
    image_dir = spec.train.get("image_dir")
    if split == "train" or not spec.train.get("val_data"):
        return spec.data, image_dir
    return spec.train["val_data"], spec.train.get("val_image_dir") or image_dir


def resolve_score_split(spec: ExperimentSpec) -> str:
    """'test' when ``score_split`` is auto and the data has a test split, else ``score_split`` or 'val'."""
    from yololab.data.source import split_names

    has_test = "test" in split_names(spec.data)
    if spec.score_split == "test" and not has_test:
        raise ConfigError(f"score_split: test, but {spec.data} has no 'test' split")
    if spec.score_split == "auto":
        return "test" if has_test else "val"
    return spec.score_split
