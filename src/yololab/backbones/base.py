"""The backbone contract: features at strides 8/16/32 plus their channels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from yololab.backbones.stem import StemAdaptation

FEATURE_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class BackboneRequest:
    """What a backbone factory is told about the detector it will sit in.

    ``size`` is the family's scale letter (n/s/m/l/x; YOLOv7 tiny/base/x map to s/l/x),
    ``depth`` and ``width`` its multiples, ``act`` its activation, ``pretrained`` False, True
    (download from the hub) or a path to a local weights file, ``in_channels`` the image channels
    (1 grayscale, 3 RGB, N bands; a pretrained 3-channel stem is adapted, see :mod:`.stem`).
    """

    name: str
    size: str = "s"
    depth: float = 0.33
    width: float = 0.50
    act: str = "silu"
    pretrained: bool | str = False
    in_channels: int = 3


class Backbone(nn.Module):
    """Base class: subclasses set ``channels`` (one per stride 8/16/32) and implement forward."""

    channels: tuple[int, int, int]
    strides: tuple[int, int, int] = FEATURE_STRIDES
    #: image channels the stem reads
    in_channels: int = 3
    #: set when pretrained 3-channel weights were adapted to ``in_channels`` (None otherwise)
    stem_adaptation: StemAdaptation | None = None

    @property
    def feature_info(self) -> list[dict[str, int]]:
        """timm-style description of the outputs."""
        return [{"num_chs": c, "reduction": s} for c, s in zip(self.channels, self.strides)]

    def stages(self) -> list[nn.Module]:
        """Modules from input to output in order, for freezing the first N (default: children)."""
        return list(self.children())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError
