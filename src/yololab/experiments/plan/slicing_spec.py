"""``slicing:`` in an experiment file: every cell scored by sliced inference on the full images (SAHI's
method, as ``yololab val --slice``), optionally also on the whole image for the sliced-vs-not ablation.

The keys and defaults are ``yololab val``'s (:meth:`SliceSettings.for_val`: NMS on IOU 0.5, which scores
correctly at val's confidence of 0.001), so a comparison and a val of one checkpoint give the same mAP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yololab.config import ConfigError
from yololab.eval.slicing import MERGES, METRICS, SliceSettings

_VAL = SliceSettings.for_val(1)  # val's defaults for everything but the size
#: the label suffix of the whole-image rows of the ablation ("yolov5n cspdarknet (whole image)")
WHOLE_SUFFIX = " (whole image)"


@dataclass(frozen=True)
class SlicingSpec:
    """How every cell's checkpoint is scored: slices of ``size`` original-image pixels, merged.

    ``ablation``: score the same checkpoints on the whole image (letterboxed) too, as extra rows
    labelled '<label> (whole image)', each compared with its sliced row on the same images."""

    size: int | None = None                  # required: the slice side in original-image pixels
    overlap: float = _VAL.overlap            # fraction of ``size`` shared by neighbouring slices
    merge: str = _VAL.merge                  # 'greedynmm', 'nmm' or 'nms'
    merge_metric: str = _VAL.metric          # 'ios' or 'iou'
    merge_threshold: float = _VAL.threshold
    full_pass: bool = _VAL.full_pass         # one extra whole-image pass for large objects
    ablation: bool = False                   # also score every checkpoint on the whole image

    def settings(self) -> SliceSettings:
        """The val slicing settings these keys stand for."""
        return SliceSettings.for_val(int(self.size or 0), overlap=self.overlap, merge=self.merge,
                                     metric=self.merge_metric, threshold=self.merge_threshold,
                                     full_pass=self.full_pass)

    def check(self, source: str = "slicing", stride: int = 32) -> SlicingSpec:
        """Raise ConfigError with one sentence naming the first bad key; return self."""
        if self.size is None:
            raise ConfigError(f"{source}: 'size' (the slice side in original-image pixels) is required")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < stride:
            raise ConfigError(f"{source}: size must be an integer of at least the model's stride ({stride} px), "
                              f"got {self.size!r}")
        if not 0 <= self.overlap < 1:
            raise ConfigError(f"{source}: overlap is a fraction of the slice in [0, 1), got {self.overlap!r}")
        if self.merge not in MERGES:
            raise ConfigError(f"{source}: merge must be one of {', '.join(MERGES)}, got {self.merge!r}")
        if self.merge_metric not in METRICS:
            raise ConfigError(f"{source}: merge_metric must be one of {', '.join(METRICS)}, got {self.merge_metric!r}")
        if not 0 <= self.merge_threshold <= 1:
            raise ConfigError(f"{source}: merge_threshold must be in [0, 1], got {self.merge_threshold!r}")
        return self

    def describe(self) -> dict[str, Any]:
        """The settings as the protocol card and results.json record them."""
        return {"size": self.size, "overlap": self.overlap, "merge": self.merge, "merge_metric": self.merge_metric,
                "merge_threshold": self.merge_threshold, "full_pass": self.full_pass, "ablation": self.ablation}

    def sentence(self) -> str:
        """What the table's note says about how its rows were scored."""
        passes = " plus one whole-image pass" if self.full_pass else ""
        text = (f"Sliced inference (SAHI's method): each scoring image cut into {self.size} x {self.size} px slices "
                f"overlapping by {self.overlap:g}{passes}, each letterboxed to the eval size; detections merged by "
                f"{self.merge.upper()} on {self.merge_metric.upper()} {self.merge_threshold:g} and scored on the "
                f"full images.")
        if self.ablation:
            text += (f" Rows labelled '{WHOLE_SUFFIX.strip()}' score the same checkpoints on the whole image "
                     f"letterboxed; their Δ is whole image minus sliced, paired on the same seeds and images "
                     f"(with one seed: the paired image bootstrap of the same checkpoint, which has no seed "
                     f"variance to add).")
        return text


def parse_slicing(value: Any, source: str = "slicing") -> SlicingSpec | None:
    """``slicing:`` as a Python caller may give it: a mapping, a :class:`SlicingSpec` or nothing."""
    from yololab.config import from_mapping

    if value is None or isinstance(value, SlicingSpec):
        return value
    return from_mapping(SlicingSpec, value, source)
