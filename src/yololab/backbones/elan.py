"""YOLOv7's own ELAN backbone in its tiny, base and x variants (upstream cfg/training YAMLs)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from yololab.backbones.base import Backbone, BackboneRequest
from yololab.backbones.registry import register_backbone
from yololab.layers import ELAN, Conv, MPDown


@dataclass(frozen=True)
class ELANBackboneSpec:
    stem: tuple[tuple[int, int], ...]          # (channels, stride) per stem conv, 3x3 each
    stages: tuple[tuple[int, int, int], ...]   # (branch, mid, out) channels of the 4 ELANs
    n_mid: int                                 # 3x3 convs per ELAN
    keep: tuple[int, ...]                      # ELAN concat selection (upstream notation)
    act: str
    downsample: str                            # 'maxpool' (tiny) or 'mpconv' (base, x)


ELAN_SPECS = {
    "tiny": ELANBackboneSpec(stem=((32, 2), (64, 2)),
                             stages=((32, 32, 64), (64, 64, 128), (128, 128, 256), (256, 256, 512)),
                             n_mid=2, keep=(-1, -2, -3, -4), act="leaky", downsample="maxpool"),
    "base": ELANBackboneSpec(stem=((32, 1), (64, 2), (64, 1), (128, 2)),
                             stages=((64, 64, 256), (128, 128, 512), (256, 256, 1024), (256, 256, 1024)),
                             n_mid=4, keep=(-1, -3, -5, -6), act="silu", downsample="mpconv"),
    "x": ELANBackboneSpec(stem=((40, 1), (80, 2), (80, 1), (160, 2)),
                          stages=((64, 64, 320), (128, 128, 640), (256, 256, 1280), (256, 256, 1280)),
                          n_mid=6, keep=(-1, -3, -5, -7, -8), act="silu", downsample="mpconv"),
}


class ELANBackbone(Backbone):
    def __init__(self, spec: ELANBackboneSpec, in_channels: int = 3) -> None:
        super().__init__()
        act = spec.act
        self.in_channels = in_channels
        stem, c = [], in_channels
        for c_out, stride in spec.stem:
            stem.append(Conv(c, c_out, 3, stride, act=act))
            c = c_out
        self.stem = nn.Sequential(*stem)                                      # /4
        stages = []
        for i, (branch, mid, c_out) in enumerate(spec.stages):
            layers: list[nn.Module] = []
            if i > 0:  # stages 2-4 start by halving the resolution
                if spec.downsample == "maxpool":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers.append(MPDown(c, c // 2, act=act))
            layers.append(ELAN(c, branch, mid, c_out, spec.n_mid, spec.keep, act=act))
            stages.append(nn.Sequential(*layers))
            c = c_out
        self.stage2, self.stage3, self.stage4, self.stage5 = stages          # /4 /8 /16 /32
        self.channels = tuple(s[2] for s in spec.stages[1:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        return [p3, p4, self.stage5(p4)]


# Which ELAN variant a family size gets when 'elan' is used outside YOLOv7 proper.
ELAN_VARIANT_FOR_SIZE = {"n": "tiny", "s": "tiny", "m": "base", "l": "base", "x": "x"}


@register_backbone("elan", "YOLOv7's ELAN backbone; variant follows the model (tiny/base/x)")
def elan(request: BackboneRequest) -> Backbone:
    if request.pretrained:
        raise ValueError("backbone 'elan' has no separate ImageNet weights; start from an "
                         "upstream YOLOv7 checkpoint instead (--weights yolov7.pt)")
    return ELANBackbone(ELAN_SPECS[ELAN_VARIANT_FOR_SIZE[request.size]], request.in_channels)
