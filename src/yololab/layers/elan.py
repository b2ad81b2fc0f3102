"""YOLOv7's efficient layer aggregation block (ELAN) and its max-pool/conv downsampler."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from yololab.layers.conv import Conv


class ELAN(nn.Module):
    """Two 1x1 branches, a chain of 3x3 convs on the second, concat of chosen outputs, 1x1 merge.

    ``keep`` lists which outputs are concatenated, in upstream's notation: negative indices
    into [branch1, branch2, conv_1, ..., conv_n], so (-1, -3, -5, -6) is the backbone ELAN
    of YOLOv7 and (-1, -2, -3, -4, -5, -6) its head variant (ELAN-H).
    """

    def __init__(self, c_in: int, c_branch: int, c_mid: int, c_out: int, n_mid: int,
                 keep: Sequence[int], act: str = "silu") -> None:
        super().__init__()
        self.keep = tuple(keep)
        widths = [c_branch, c_branch] + [c_mid] * n_mid
        self.cv1 = Conv(c_in, c_branch, 1, 1, act=act)
        self.cv2 = Conv(c_in, c_branch, 1, 1, act=act)
        self.m = nn.ModuleList(
            Conv(c_branch if i == 0 else c_mid, c_mid, 3, 1, act=act) for i in range(n_mid)
        )
        self.cv3 = Conv(sum(widths[i] for i in self.keep), c_out, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.cv1(x), self.cv2(x)]
        for conv in self.m:
            outs.append(conv(outs[-1]))
        return self.cv3(torch.cat([outs[i] for i in self.keep], dim=1))


class MPDown(nn.Module):
    """Stride-2 downsampling as two branches: maxpool->1x1 and 1x1->3x3/s2, concatenated.

    Output has 2 * c_half channels; the concat order [conv branch, pool branch] is upstream's.
    """

    def __init__(self, c_in: int, c_half: int, act: str = "silu") -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2)
        self.cv1 = Conv(c_in, c_half, 1, 1, act=act)
        self.cv2 = Conv(c_in, c_half, 1, 1, act=act)
        self.cv3 = Conv(c_half, c_half, 3, 2, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.cv3(self.cv2(x)), self.cv1(self.pool(x))), dim=1)
