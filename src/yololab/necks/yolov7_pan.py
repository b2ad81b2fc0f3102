"""YOLOv7's neck: SPPCSPC on P5, an ELAN-H PANet, and 3x3 output convs (RepConv in YOLOv7)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from yololab.layers import ELAN, SPPCSPC, Conv, MPDown, RepConv, SPPCSPTiny


@dataclass(frozen=True)
class YOLOv7NeckSpec:
    in_channels: tuple[int, int, int]   # P3, P4, P5 channels of the family's own backbone
    widths: tuple[int, int, int]        # channels of the P3, P4, P5 paths (head gets 2x)
    elan: tuple[tuple[int, int], ...]   # (branch, mid) of the ELANs: top-down 4, 3, bottom-up 4, 5
    n_mid: int
    keep: tuple[int, ...]
    act: str
    tiny: bool                          # tiny: SPPCSP-tiny, 3x3/s2 downsampling, plain output convs
    rep_outputs: bool                   # RepConv (YOLOv7) or Conv (tiny, X) at the outputs


YOLOV7_NECK_SPECS = {
    "yolov7-tiny": YOLOv7NeckSpec((128, 256, 512), (64, 128, 256), ((64, 64), (32, 32), (64, 64), (128, 128)),
                                  2, (-1, -2, -3, -4), "leaky", tiny=True, rep_outputs=False),
    "yolov7": YOLOv7NeckSpec((512, 1024, 1024), (128, 256, 512), ((256, 128), (128, 64), (256, 128), (512, 256)),
                             4, (-1, -2, -3, -4, -5, -6), "silu", tiny=False, rep_outputs=True),
    "yolov7x": YOLOv7NeckSpec((640, 1280, 1280), (160, 320, 640), ((256, 256), (128, 128), (256, 256), (512, 512)),
                              6, (-1, -3, -5, -7, -8), "silu", tiny=False, rep_outputs=False),
}


class YOLOv7PAN(nn.Module):
    """Upstream 'head' layers up to IDetect; registration order follows upstream's layers."""

    def __init__(self, spec: YOLOv7NeckSpec) -> None:
        super().__init__()
        act, (c3_in, c4_in, c5_in), (w3, w4, w5) = spec.act, spec.in_channels, spec.widths
        c_spp = 2 * w4

        def elan(c_in: int, level: int, c_out: int) -> ELAN:
            branch, mid = spec.elan[level]
            return ELAN(c_in, branch, mid, c_out, spec.n_mid, spec.keep, act=act)

        def down(c: int) -> nn.Module:  # halves resolution, doubles channels
            return Conv(c, 2 * c, 3, 2, act=act) if spec.tiny else MPDown(c, c, act=act)

        self.in_channels = spec.in_channels
        self.spp = SPPCSPTiny(c5_in, c_spp, act) if spec.tiny else SPPCSPC(c5_in, c_spp, act=act)
        self.reduce5 = Conv(c_spp, w4, 1, 1, act=act)
        self.lateral4 = Conv(c4_in, w4, 1, 1, act=act)
        self.top_down4 = elan(2 * w4, 0, w4)
        self.reduce4 = Conv(w4, w3, 1, 1, act=act)
        self.lateral3 = Conv(c3_in, w3, 1, 1, act=act)
        self.top_down3 = elan(2 * w3, 1, w3)                  # P3/8 path
        self.down3 = down(w3)
        self.bottom_up4 = elan(2 * w3 + w4, 2, w4)            # P4/16 path
        self.down4 = down(w4)
        self.bottom_up5 = elan(2 * w4 + c_spp, 3, w5)         # P5/32 path
        out = (lambda c: RepConv(c, 2 * c, act=act)) if spec.rep_outputs else (lambda c: Conv(c, 2 * c, 3, 1, act=act))
        self.out3, self.out4, self.out5 = out(w3), out(w4), out(w5)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.out_channels = (2 * w3, 2 * w4, 2 * w5)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = features
        s5 = self.spp(p5)
        t4 = self.top_down4(torch.cat((self.lateral4(p4), self.upsample(self.reduce5(s5))), 1))
        t3 = self.top_down3(torch.cat((self.lateral3(p3), self.upsample(self.reduce4(t4))), 1))
        b4 = self.bottom_up4(torch.cat((self.down3(t3), t4), 1))
        b5 = self.bottom_up5(torch.cat((self.down4(b4), s5), 1))
        return [self.out3(t3), self.out4(b4), self.out5(b5)]
