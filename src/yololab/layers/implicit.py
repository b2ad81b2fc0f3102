"""YOLOR implicit-knowledge layers used by YOLOv7's IDetect head."""

from __future__ import annotations

import torch
from torch import nn


class ImplicitA(nn.Module):
    """Learned additive bias per channel (added before the detect conv)."""

    def __init__(self, channels: int, std: float = 0.02) -> None:
        super().__init__()
        self.implicit = nn.Parameter(torch.zeros(1, channels, 1, 1))
        nn.init.normal_(self.implicit, mean=0.0, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.implicit + x


class ImplicitM(nn.Module):
    """Learned multiplicative scale per channel (applied after the detect conv)."""

    def __init__(self, channels: int, std: float = 0.02) -> None:
        super().__init__()
        self.implicit = nn.Parameter(torch.ones(1, channels, 1, 1))
        nn.init.normal_(self.implicit, mean=1.0, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.implicit * x
