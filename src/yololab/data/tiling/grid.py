"""SAHI's slice grid, shared by sliced inference (:mod:`yololab.eval.slicing`) and tiled training
(:mod:`yololab.data.tiling.tiles`): square windows stepping by ``size - int(overlap * size)``; a window that would
cross the right or bottom border is moved back to sit flush with it; a window larger than the image is
the whole image."""

from __future__ import annotations

import numpy as np


def slice_grid(height: int, width: int, size: int, overlap: float = 0.2) -> np.ndarray:
    """(n, 4) int64 x1, y1, x2, y2 of the slices of a ``height`` x ``width`` image, row by row."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if size < 1 or height < 1 or width < 1:
        raise ValueError(f"slice {size} of a {width}x{height} image: sizes must be positive")
    step = size - int(overlap * size)
    ys, xs = _starts(height, size, step), _starts(width, size, step)
    y0, x0 = np.repeat(ys, len(xs)), np.tile(xs, len(ys))
    return np.stack([x0, y0, np.minimum(x0 + size, width), np.minimum(y0 + size, height)], 1)


def _starts(length: int, size: int, step: int) -> np.ndarray:
    """Slice starts along one side: every ``step`` until a slice reaches the end, the last one flush."""
    starts, start = [], 0
    while True:
        if start + size >= length:
            starts.append(max(0, length - size))
            return np.asarray(starts, np.int64)
        starts.append(start)
        start += step
