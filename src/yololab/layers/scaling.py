"""YOLOv5's compound scaling: width multiples rounded up to 8 channels, depth multiples rounded."""

from __future__ import annotations

import math


def scaled_channels(channels: int, width: float, divisor: int = 8) -> int:
    return int(math.ceil(channels * width / divisor) * divisor)


def scaled_depth(repeats: int, depth: float) -> int:
    return max(round(repeats * depth), 1) if repeats > 1 else repeats
