"""Training hyperparameters (upstream YOLOv5 ``hyp.scratch-low.yaml`` defaults) and gain scaling."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yololab.config import from_mapping


@dataclass(frozen=True)
class Hyperparameters:
    """Optimizer, warm-up and loss settings; defaults are upstream's ``hyp.scratch-low.yaml``.

    ``box``/``cls``/``obj`` are the *unscaled* gains; pass the result of
    :func:`scale_loss_gains` to the loss, as upstream's train.py does.
    """

    lr0: float = 0.01              # initial learning rate
    lrf: float = 0.01              # final lr = lr0 * lrf
    momentum: float = 0.937        # SGD momentum
    weight_decay: float = 5e-4     # for nominal batch size 64
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    box: float = 0.05              # box (CIoU) loss gain
    cls: float = 0.5               # class BCE gain
    cls_pw: float = 1.0            # class BCE positive weight
    obj: float = 1.0               # objectness BCE gain
    obj_pw: float = 1.0            # objectness BCE positive weight
    iou_t: float = 0.2             # IoU training threshold (unused by the loss, kept for parity)
    anchor_t: float = 4.0          # anchor-multiple threshold for matching
    fl_gamma: float = 0.0          # focal loss gamma (0 = plain BCE)
    label_smoothing: float = 0.0   # class label smoothing epsilon

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], strict: bool = False) -> "Hyperparameters":
        """Build from a mapping: strictly (the config loader's checks) or, for an upstream hyp YAML
        that mixes in keys yololab does not use, leniently (those keys ignored)."""
        if strict:
            return from_mapping(cls, values, "hyp")
        known = {f.name for f in dataclasses.fields(cls)}
        return from_mapping(cls, {k: v for k, v in values.items() if k in known}, "hyp")

    @classmethod
    def from_yaml(cls, path: str | Path, strict: bool = False) -> "Hyperparameters":
        """Read an upstream-style hyp YAML (augmentation keys are ignored unless ``strict``)."""
        import yaml

        with open(path, encoding="utf-8") as f:
            return cls.from_dict(yaml.safe_load(f) or {}, strict=strict)


def scale_loss_gains(hyp: Hyperparameters, num_layers: int = 3, num_classes: int = 80,
                     image_size: int = 640) -> Hyperparameters:
    """Return a copy with box/cls/obj gains scaled as upstream train.py does.

    box *= 3/nl; cls *= nc/80 * 3/nl; obj *= (imgsz/640)^2 * 3/nl.
    """
    layer_scale = 3.0 / num_layers
    return dataclasses.replace(
        hyp,
        box=hyp.box * layer_scale,
        cls=hyp.cls * num_classes / 80.0 * layer_scale,
        obj=hyp.obj * (image_size / 640.0) ** 2 * layer_scale,
    )
