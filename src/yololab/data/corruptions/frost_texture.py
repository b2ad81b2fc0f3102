"""Procedural stand-ins for the benchmark's frost photographs (which this project does not ship).

Each texture is a bluish-white layer of ice: a hazy fractal background (frosted glass) and needle
crystals branching at 60 degrees (the hexagonal habit of ice), drawn from a fixed seed, so it is the
same on every machine. Like the photographs, they are larger than a COCO image and are cropped at random.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from yololab.data.corruptions.filters import plasma_fractal

FROST_TEXTURES = 5  # the reference draws one of its first five frost images
SIZES = ((720, 960), (800, 800), (680, 1000), (760, 900), (840, 840))  # (height, width)
TINT = np.array([0.82, 0.91, 1.0], np.float32)  # RGB: ice is bluish white


def _dendrite(canvas: np.ndarray, x: float, y: float, angle: float, length: float, depth: int,
              rng: np.random.Generator) -> None:
    """A needle from (x, y) with side needles at +-60 degrees, drawn into ``canvas`` (max blend)."""
    steps = max(2, int(length / 6))
    brightness = float(rng.uniform(0.45, 1.0))
    for i in range(steps):
        nx = x + 6 * math.cos(angle)
        ny = y + 6 * math.sin(angle)
        cv2.line(canvas, (round(x), round(y)), (round(nx), round(ny)), brightness, 1, cv2.LINE_AA)
        if depth and rng.random() < 0.35:
            side = angle + math.copysign(math.pi / 3, rng.uniform(-1, 1))
            _dendrite(canvas, nx, ny, side, length * rng.uniform(0.2, 0.45), depth - 1, rng)
        x, y = nx, ny
        angle += rng.normal(0, 0.05)


@functools.lru_cache(maxsize=FROST_TEXTURES)
def frost_texture(index: int) -> np.ndarray:
    """Frost texture ``index`` (0-4): uint8 HxWx3 RGB, read-only."""
    rng = np.random.default_rng(10_000 + index)
    h, w = SIZES[index]
    haze = plasma_fractal(1024, 1.8, rng)[:h, :w].astype(np.float32)
    haze = 0.12 + 0.3 * haze
    crystals = np.zeros((h, w), np.float32)
    for _ in range(h * w // 2500):
        _dendrite(crystals, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * math.pi),
                  rng.uniform(30, 160), 2, rng)
    crystals = np.maximum(crystals, cv2.GaussianBlur(crystals, (0, 0), 2.0) * 1.5)  # glow around the needles
    ice = np.clip(haze + 0.75 * crystals, 0, 1)[..., None] * TINT
    out = (ice * 255).astype(np.uint8)
    out.setflags(write=False)
    return out
