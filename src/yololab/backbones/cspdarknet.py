"""YOLOv5's own backbone (v6.0+): 6x6 stem conv and four Conv/C3 stages, scaled by depth/width.

SPPF, upstream's layer 9, lives at the start of the YOLOv5 neck so that every backbone feeds
the same neck; with this backbone the model is exactly upstream's.
"""

from __future__ import annotations

import torch
from torch import nn

from yololab.backbones.base import Backbone, BackboneRequest
from yololab.backbones.registry import register_backbone
from yololab.layers import C3, Conv
from yololab.layers.scaling import scaled_channels, scaled_depth


class CSPDarknet(Backbone):
    def __init__(self, depth: float, width: float, act: str = "silu", in_channels: int = 3) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (scaled_channels(c, width) for c in (64, 128, 256, 512, 1024))

        def stage(c_in: int, c_out: int, repeats: int) -> nn.Sequential:
            return nn.Sequential(Conv(c_in, c_out, 3, 2, act=act),
                                 C3(c_out, c_out, scaled_depth(repeats, depth), act=act))

        self.in_channels = in_channels
        self.stem = Conv(in_channels, c1, 6, 2, 2, act=act)  # /2
        self.stage2 = stage(c1, c2, 3)                   # /4
        self.stage3 = stage(c2, c3, 6)                   # /8  -> P3
        self.stage4 = stage(c3, c4, 9)                   # /16 -> P4
        self.stage5 = stage(c4, c5, 3)                   # /32 -> P5
        self.channels = (c3, c4, c5)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        return [p3, p4, self.stage5(p4)]


@register_backbone("cspdarknet", "YOLOv5's CSPDarknet (C3 stages), scaled with the model (n/s/m/l/x)")
def cspdarknet(request: BackboneRequest) -> Backbone:
    if request.pretrained:
        raise ValueError("backbone 'cspdarknet' has no separate ImageNet weights; start from an "
                         "upstream YOLOv5 checkpoint instead (--weights yolov5s.pt)")
    return CSPDarknet(request.depth, request.width, request.act, request.in_channels)
