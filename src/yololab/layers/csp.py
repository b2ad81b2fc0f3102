"""YOLOv5's CSP bottleneck block (C3)."""

from __future__ import annotations

import torch
from torch import nn

from yololab.layers.conv import Conv


class Bottleneck(nn.Module):
    """1x1 -> 3x3 with an optional residual (used when shapes allow)."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, expansion: float = 0.5,
                 act: str = "silu") -> None:
        super().__init__()
        hidden = int(c_out * expansion)
        self.cv1 = Conv(c_in, hidden, 1, 1, act=act)
        self.cv2 = Conv(hidden, c_out, 3, 1, act=act)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block with 3 convs: two 1x1 splits, n bottlenecks on one, 1x1 merge."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True,
                 act: str = "silu") -> None:
        super().__init__()
        hidden = c_out // 2
        self.cv1 = Conv(c_in, hidden, 1, 1, act=act)
        self.cv2 = Conv(c_in, hidden, 1, 1, act=act)
        self.cv3 = Conv(2 * hidden, c_out, 1, 1, act=act)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, 1.0, act) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))
