"""YOLOv5's neck: SPPF on P5, then a PANet (top-down then bottom-up) of C3 blocks."""

from __future__ import annotations

import torch
from torch import nn

from yololab.layers import C3, SPPF, Conv
from yololab.layers.scaling import scaled_channels, scaled_depth


class YOLOv5PAN(nn.Module):
    """Upstream layers 9-23 of yolov5{n,s,m,l,x}.yaml; registration order follows them."""

    def __init__(self, depth: float, width: float, act: str = "silu") -> None:
        super().__init__()
        c3, c4, c5 = (scaled_channels(c, width) for c in (256, 512, 1024))
        n = scaled_depth(3, depth)
        self.in_channels = (c3, c4, c5)
        self.spp = SPPF(c5, c5, 5, act=act)                            # 9   P5/32
        self.reduce5 = Conv(c5, c4, 1, 1, act=act)                     # 10
        self.top_down4 = C3(2 * c4, c4, n, shortcut=False, act=act)    # 13  P4/16
        self.reduce4 = Conv(c4, c3, 1, 1, act=act)                     # 14
        self.top_down3 = C3(2 * c3, c3, n, shortcut=False, act=act)    # 17  P3/8 out
        self.down3 = Conv(c3, c3, 3, 2, act=act)                       # 18
        self.bottom_up4 = C3(2 * c3, c4, n, shortcut=False, act=act)   # 20  P4/16 out
        self.down4 = Conv(c4, c4, 3, 2, act=act)                       # 21
        self.bottom_up5 = C3(2 * c4, c5, n, shortcut=False, act=act)   # 23  P5/32 out
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.out_channels = (c3, c4, c5)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = features
        r5 = self.reduce5(self.spp(p5))
        r4 = self.reduce4(self.top_down4(torch.cat((self.upsample(r5), p4), 1)))
        out3 = self.top_down3(torch.cat((self.upsample(r4), p3), 1))
        out4 = self.bottom_up4(torch.cat((self.down3(out3), r4), 1))
        out5 = self.bottom_up5(torch.cat((self.down4(out4), r5), 1))
        return [out3, out4, out5]
