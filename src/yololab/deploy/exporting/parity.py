"""How far an exported model's (B, N, 5+nc) outputs are from PyTorch's.

Box columns are in pixels, so float32 rounding alone moves large boxes by about a thousandth of a
pixel (see the README). The checked figure therefore expresses cx, cy, w, h as fractions of the
input size (YOLO's normalised units); objectness and class probabilities are compared as they are. Pixel and probability maxima are reported too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Parity:
    max_abs: float  # over all columns, boxes normalised by the input size
    box_px: float  # boxes, pixels
    prob: float  # objectness and class probabilities

    def __str__(self) -> str:
        return (f"max abs difference {self.max_abs:.3g} (boxes normalised; boxes {self.box_px:.3g} px, "
                f"obj/class probabilities {self.prob:.3g})")


def compare_outputs(got: np.ndarray, ref: np.ndarray, hw: tuple[int, int]) -> Parity:
    """Differences between two (B, N, 5+nc) arrays decoded for an ``hw`` (height, width) input."""
    if got.shape != ref.shape:
        raise ValueError(f"output shapes differ: {got.shape} vs {ref.shape}")
    d = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    scale = np.array([hw[1], hw[0], hw[1], hw[0]], np.float64)
    box_px = float(d[..., :4].max()) if d.size else 0.0
    box_norm = float((d[..., :4] / scale).max()) if d.size else 0.0
    prob = float(d[..., 4:].max()) if d.size else 0.0
    return Parity(max(box_norm, prob), box_px, prob)
