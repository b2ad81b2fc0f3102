"""What ``yololab val`` is asked to do: the command line read once into typed records, checked as a whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from yololab.device import DEFAULT_DEVICE
from yololab.errors import UserError
from yololab.eval.extras import ExtraOptions

if TYPE_CHECKING:
    from yololab.eval.slicing import SliceSettings
    from yololab.eval.validate import ValSettings


@dataclass(frozen=True)
class ResultsFiles:
    """``--gt``/``--dt``: a COCO results file scored against a COCO ground-truth file."""

    gt: Path | None
    dt: Path | None
    coco_max_det: int = 100  # detections per image the COCO protocol scores


@dataclass(frozen=True)
class ModelRun:
    """``--weights``/``--data``: a model run on a data split and its detections scored."""

    weights: str | None
    data: str | None
    settings: ValSettings
    split: str = "val"
    image_dir: str | None = None
    backend: str | None = None  # runtime of an export (None: from the file)
    fuse: bool = True
    device: str = DEFAULT_DEVICE  # a --device string (yololab.device)
    slicing: SliceSettings | None = None  # --slice: sliced inference scored on the full images


@dataclass(frozen=True)
class Outputs:
    """What is written or printed besides the metrics table."""

    json: Path | None = None  # the metrics (and extras) as JSON
    save_dt: Path | None = None  # the detections as a COCO results JSON
    save_gt: Path | None = None  # the ground truth scored against as a COCO JSON
    per_class: bool = False  # print AP per class


@dataclass(frozen=True)
class CorruptionRequest:
    """``--corruption``/``--severity``/``--seed``: score the model under these (yololab.eval.robustness)."""

    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    seed: int = 0


@dataclass(frozen=True)
class ValRequest:
    """One ``yololab val``: results files or a model run (exactly one), the extras and the outputs."""

    files: ResultsFiles | None
    model: ModelRun | None
    extras: ExtraOptions = ExtraOptions()
    outputs: Outputs = Outputs()
    robustness: CorruptionRequest | None = None  # --corruption/--severity: mAP per corruption and severity

    def __post_init__(self) -> None:
        if self.files is not None:
            if not (self.files.gt and self.files.dt):
                raise UserError("--gt and --dt go together (ground truth and results JSON)")
            if self.model is not None:
                raise UserError("give either --gt/--dt or --weights/--data, not both")
        else:
            if self.model is None or not (self.model.weights and self.model.data):
                raise UserError("give --weights and --data (or --gt and --dt)")
            if self.extras.dt_ref:
                raise UserError("--dt-ref compares two results files: use it with --gt and --dt "
                                "(write each model's results with --save-dt first)")
        if self.robustness is not None:
            self._check_robustness()
        if self.extras.bootstrap is not None and self.extras.bootstrap < 1:
            raise UserError(f"--bootstrap {self.extras.bootstrap}: the number of resamples must be >= 1")

    def _check_robustness(self) -> None:
        """--corruption scores a model, one mAP per pass: no results files, no single-pass outputs."""
        if self.model is None:
            raise UserError("--corruption scores a model: give --weights and --data, not --gt/--dt")
        unsupported = [flag for flag, on in (("--save-dt", self.outputs.save_dt), ("--save-gt", self.outputs.save_gt),
                                             ("--plots", self.extras.plots), ("--bootstrap", self.extras.bootstrap),
                                             ("--metric", self.extras.metric != "coco")) if on]
        if unsupported:
            raise UserError(f"--corruption scores mAP per corruption and severity only; drop {', '.join(unsupported)}")
