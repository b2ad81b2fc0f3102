"""Result records of a comparison: :class:`CellResult` (one trained and scored cell) and
:class:`SummaryRow` (one table row: a model with one backbone entry over its seeds).

Both are frozen; a stage that adds to a record makes a new one (``dataclasses.replace``). The same
sub-records serve both, so a writer reads ``row.accuracy.map50_95`` from either: a number on a cell,
an :class:`Estimate` over seeds on a summary row. mAP fields are fractions (0.01 = 1 point); None
where there is no value (COCO has no objects of that size, the cell was not scored). The flat form
of the files (results.csv / results.json) is ``records_io``'s job, through the generic converter ``flat``:
a field's metadata names its column where that is not the field's name (``flat`` says how).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Generic, TypeVar

from yololab.eval.results import ClassAP
from yololab.experiments.results.status import CellStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Estimate:
    """A figure over seeds: the mean, the sample std (None with one seed) and, for accuracy, a 95% interval."""

    # written under the figure's column: 'map50', 'map50_std', 'map50_ci95'
    mean: float = field(metadata={"suffix": ""})
    std: float | None = field(default=None, metadata={"suffix": "_std"})
    ci95: tuple[float, float] | None = field(default=None, metadata={"suffix": "_ci95"})


@dataclass(frozen=True)
class Entry:
    """What a table row stands for: a model with one backbone entry (shared by all its seeds)."""

    model: str
    label: str = field(metadata={"column": "backbone"})  # the entry's table label
    backbone_name: str | None = None     # the resolved backbone ('native' -> the family's own)
    native: bool | None = None
    init: str | None = None              # 'scratch', 'pretrained', a weights file's name
    pretrained: bool | str | None = None
    freeze: int | None = None
    backbone_lr_mult: float | None = None


@dataclass(frozen=True)
class Accuracy(Generic[T]):
    """COCO mAPs on the scoring split (numbers on a cell, :class:`Estimate` on a summary row)."""

    map50_95: T | None = None
    map50: T | None = None
    map75: T | None = None
    map_tiny: T | None = None            # objects < 16^2 px (AI-TOD, VisDrone); None: none in the split
    map_small: T | None = None
    map_medium: T | None = None
    map_large: T | None = None
    best_map50_95: T | None = None       # the trainer's best val mAP50-95 (checkpoint selection)
    per_class: Mapping[str, ClassAP] = field(default_factory=dict)


#: the scored mAPs (not the trainer's own figure): intervals, identical-seed checks
SCORED_MAPS: tuple[str, ...] = ("map50_95", "map50", "map75", "map_tiny", "map_small", "map_medium", "map_large")


@dataclass(frozen=True)
class Robustness(Generic[T]):
    """Scores under image corruptions (``robustness:``, COCO-C protocol): mPC (mean mAP50-95 over every
    corruption and severity), rPC (mPC / clean mAP50-95) and the mAP50-95 of each (a summary row: seed means)."""

    mpc: T | None = None
    rpc: T | None = None
    corruption_ap: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # {name: {severity: mAP50-95}}
    corruption_seed: int | None = None


@dataclass(frozen=True)
class Cost(Generic[T]):
    """Size, compute and training cost."""

    params: T | None = None
    backbone_params: T | None = None
    adapter_params: T | None = None
    neck_params: T | None = None
    head_params: T | None = None
    gflops: T | None = None              # fused, one image at the eval size
    train_seconds: T | None = None
    images_per_second: T | None = None
    peak_memory_mb: T | None = None
    epochs_run: T | None = None


def metric_names(record: type) -> tuple[str, ...]:
    """The numeric fields of :class:`Accuracy` or :class:`Cost`."""
    return tuple(f.name for f in fields(record) if f.name != "per_class")


@dataclass(frozen=True)
class Latency:
    """One backend's batch-1 latency of a cell (``error`` instead when it could not be timed)."""

    median_ms: float | None = None
    p90_ms: float | None = None
    unreliable: str | None = None        # why the figure cannot be trusted (busy CPU, wide spread), or None
    device: str | None = None
    threads: int | None = None
    error: str | None = None

    @property
    def fps(self) -> float | None:
        return 1000.0 / self.median_ms if self.median_ms else None


@dataclass(frozen=True)
class LatencySummary:
    """One backend's latency over seeds; unreliable when one of its figures is."""

    median_ms: Estimate | None = None
    fps: Estimate | None = None
    unreliable: str | None = None


@dataclass(frozen=True)
class Tuning:
    """How the entry was tuned before its seeds (one study per entry)."""

    tuned: str = "–"                     # the chosen values
    tune_trials: int | None = None
    tune_pruned: int | None = None
    tune_failed: int | None = None
    tune_epochs: int | None = None
    tune_seconds: float | None = None
    tune_device: str | None = None       # 'CPU' or 'GPU'
    tune_best_val: float | None = None


@dataclass(frozen=True)
class Provenance:
    """How and where a cell was trained and scored, and the files its figures come from."""

    eval_imgsz: int | None = None
    weights: str | None = None           # the scored checkpoint's file name
    checkpoint: str | None = None        # 'best' or 'last'
    selection_split: str | None = None
    score_split: str | None = None
    num_score_images: int | None = None
    num_val_images: int | None = None
    scoring: str | None = None           # 'sliced' or 'whole image' where the spec has ``slicing:``; None: whole image
    train_device: str | None = None
    fingerprint: str | None = None
    gt_sha256: str | None = None
    detections_file: str | None = None
    detections_sha256: str | None = None
    matches_file: str | None = None


@dataclass(frozen=True)
class AnalysisSummary:
    """The cell's error analysis: best-F1 operating point, TIDE dAP50 per error type, VOC mAPs."""

    best_conf: float | None = None
    best_f1: float | None = None
    errors: Mapping[str, float] | None = None
    error_counts: Mapping[str, int] | None = None
    voc07_map: float | None = None
    voc12_map: float | None = None


@dataclass(frozen=True)
class CellResult:
    """One cell (model x backbone entry x seed) as its folder says: identity, status and, once scored,
    its accuracy, cost, latency per backend (``latency_backends`` names) and error analysis."""

    cell_id: str
    entry: Entry
    seed: int | None
    status: CellStatus
    reference: str | None = None         # the label of the entry this cell is compared with
    accuracy: Accuracy[float] = field(default_factory=Accuracy)
    cost: Cost[float] = field(default_factory=Cost)
    provenance: Provenance = field(default_factory=Provenance)
    # by backend; its columns are the latency table's (records_io), not the generic converter's
    latency: Mapping[str, Latency] = field(default_factory=dict, metadata={"flat": False})
    latency_loadavg: float | None = None  # the 1-minute load while it was timed
    tuning: Tuning | None = None
    analysis: AnalysisSummary | None = field(default=None, metadata={"inline": False})  # one nested mapping
    error: str | None = None
    cell_dir: str | None = None          # relative to the comparison folder
    robustness: Robustness[float] | None = None  # with ``robustness:`` in the spec

    row_type = "cell"

    @property
    def done(self) -> bool:
        return self.status == CellStatus.DONE

    @property
    def score_split(self) -> str | None:
        return self.provenance.score_split


@dataclass(frozen=True)
class Comparison:
    """A summary row against its reference row of the same model (mAP50-95 fractions)."""

    reference: str | None = None         # the reference entry's label
    is_reference: bool = False
    # mean over paired seeds of (this - reference)
    delta: float | None = field(default=None, metadata={"column": "delta_map50_95"})
    delta_ci95: tuple[float, float] | None = field(default=None, metadata={"column": "delta_map50_95_ci95"})
    ci_kind: str | None = field(default=None, metadata={"column": "delta_ci_kind"})  # 'seeds and test set', 'test set'
    p_value: float | None = None
    p_holm: float | None = None
    significant: bool | None = None      # None: no test (one seed, no saved detections)
    paired_seeds: int | None = None
    # the spread over seeds of the paired difference, and the test-set spread (image bootstrap)
    seed_sd: float | None = field(default=None, metadata={"column": "delta_seed_sd"})
    image_sd: float | None = field(default=None, metadata={"column": "delta_image_sd"})
    df: float | None = field(default=None, metadata={"column": "delta_df"})
    seeds_needed: int | None = None      # for a 1-point difference at 80% power
    more_seeds_cannot_help: bool | None = None
    method: str | None = field(default=None, metadata={"column": "delta_method"})


@dataclass(frozen=True)
class RobustnessComparison:
    """Δ mPC against the reference row: the same paired test as Δ mAP50-95 (:class:`Comparison`), on mPC
    replicates whose image resamples are shared by every corruption and severity; Holm over the Δ mPC tests."""

    delta: float | None = field(default=None, metadata={"column": "delta_mpc"})
    delta_ci95: tuple[float, float] | None = field(default=None, metadata={"column": "delta_mpc_ci95"})
    ci_kind: str | None = field(default=None, metadata={"column": "delta_mpc_ci_kind"})
    p_value: float | None = field(default=None, metadata={"column": "delta_mpc_p_value"})
    p_holm: float | None = field(default=None, metadata={"column": "delta_mpc_p_holm"})
    significant: bool | None = field(default=None, metadata={"column": "delta_mpc_significant"})
    paired_seeds: int | None = field(default=None, metadata={"column": "delta_mpc_paired_seeds"})
    seed_sd: float | None = field(default=None, metadata={"column": "delta_mpc_seed_sd"})
    image_sd: float | None = field(default=None, metadata={"column": "delta_mpc_image_sd"})
    df: float | None = field(default=None, metadata={"column": "delta_mpc_df"})
    method: str | None = field(default=None, metadata={"column": "delta_mpc_method"})


@dataclass(frozen=True)
class SummaryRow:
    """One table row: an entry's cells over their seeds (means, std, intervals) and its comparison."""

    entry: Entry
    seeds: tuple[int, ...]
    eval_imgsz: int | None = None
    score_split: str | None = None       # 'mixed' when its cells disagree
    tuning: Tuning | None = None
    accuracy: Accuracy[Estimate] = field(default_factory=Accuracy)
    cost: Cost[Estimate] = field(default_factory=Cost)
    latency: Mapping[str, LatencySummary] = field(default_factory=dict, metadata={"flat": False})  # by backend
    # how map50_95's interval was made
    ci_method: str | None = field(default=None, metadata={"column": "map50_95_ci_method"})
    identical_seeds: tuple[tuple[int, int], ...] | None = None
    comparison: Comparison = field(default_factory=Comparison)
    robustness: Robustness[Estimate] | None = None
    robustness_comparison: RobustnessComparison | None = None

    row_type = "mean"
    status = CellStatus.DONE
    error = None

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def cell_id(self) -> str:
        return f"{self.entry.model}_{self.entry.label}_mean"

    @property
    def done(self) -> bool:
        return True


Row = CellResult | SummaryRow
