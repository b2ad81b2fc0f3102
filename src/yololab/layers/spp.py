"""Spatial pyramid pooling blocks: SPPF (YOLOv5), SPPCSPC (YOLOv7, YOLOv7-X), SPPCSPTiny (YOLOv7-tiny)."""

from __future__ import annotations

import torch
from torch import nn

from yololab.layers.conv import Conv


class SPPF(nn.Module):
    """Fast SPP: three chained 5x5 max-pools (equivalent to 5/9/13 pools)."""

    def __init__(self, c_in: int, c_out: int, k: int = 5, act: str = "silu") -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1, 1, act=act)
        self.cv2 = Conv(hidden * 4, c_out, 1, 1, act=act)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), dim=1))


class SPPCSPC(nn.Module):
    """YOLOv7's CSP spatial pyramid pooling (pools 5, 9, 13)."""

    def __init__(self, c_in: int, c_out: int, expansion: float = 0.5, act: str = "silu") -> None:
        super().__init__()
        hidden = int(2 * c_out * expansion)
        self.cv1 = Conv(c_in, hidden, 1, 1, act=act)
        self.cv2 = Conv(c_in, hidden, 1, 1, act=act)
        self.cv3 = Conv(hidden, hidden, 3, 1, act=act)
        self.cv4 = Conv(hidden, hidden, 1, 1, act=act)
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (5, 9, 13))
        self.cv5 = Conv(4 * hidden, hidden, 1, 1, act=act)
        self.cv6 = Conv(hidden, hidden, 3, 1, act=act)
        self.cv7 = Conv(2 * hidden, c_out, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.cv4(self.cv3(self.cv1(x)))
        y1 = self.cv6(self.cv5(torch.cat([x1] + [pool(x1) for pool in self.m], dim=1)))
        return self.cv7(torch.cat((y1, self.cv2(x)), dim=1))


class SPPCSPTiny(nn.Module):
    """YOLOv7-tiny's SPP, written in upstream's YAML as 9 separate layers (29-37).

    cv1 is the shortcut branch, cv2 feeds the pools; concatenation orders follow upstream
    ([pool13, pool9, pool5, x] then [y, shortcut]) so upstream weights load unchanged.
    """

    def __init__(self, c_in: int, c_out: int, act: str = "leaky") -> None:
        super().__init__()
        self.cv1 = Conv(c_in, c_out, 1, 1, act=act)
        self.cv2 = Conv(c_in, c_out, 1, 1, act=act)
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (5, 9, 13))
        self.cv3 = Conv(4 * c_out, c_out, 1, 1, act=act)
        self.cv4 = Conv(2 * c_out, c_out, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.cv1(x)
        y = self.cv2(x)
        pooled = [pool(y) for pool in self.m]
        y = self.cv3(torch.cat(pooled[::-1] + [y], dim=1))
        return self.cv4(torch.cat((y, shortcut), dim=1))
