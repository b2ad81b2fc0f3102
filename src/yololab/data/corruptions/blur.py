"""Blur family (and Gaussian blur): defocus, glass, motion and zoom blur."""

from __future__ import annotations

import cv2
import numpy as np

from yololab.data.corruptions import params as P
from yololab.data.corruptions.filters import clipped_zoom, gaussian, motion_blur as line_blur
from yololab.data.corruptions.noise import unit


def gaussian_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return gaussian(unit(img), P.GAUSSIAN_BLUR_SIGMA[severity - 1])


def _shuffle_locally(x: np.ndarray, delta: int, iterations: int, rng: np.random.Generator) -> None:
    """Swap every inner pixel with a random neighbour at offsets in [-delta, delta) (in place).

    The reference visits the pixels one at a time in reverse raster order; here the pixels are
    visited in (2 * delta + 1)^2 interleaved lattices, reverse order, one vectorised step each: pixels
    of one lattice are 2 * delta + 1 apart, so their swaps cannot touch each other. Every pixel is
    still swapped once per iteration with the same offset distribution.
    """
    h, w = x.shape[:2]
    period = 2 * delta + 1
    for _ in range(iterations):
        for a in reversed(range(period)):
            rows = np.arange(h - delta, delta, -1)
            rows = rows[(rows % period) == a]
            if not len(rows):
                continue
            for b in reversed(range(period)):
                cols = np.arange(w - delta, delta, -1)
                cols = cols[(cols % period) == b]
                if not len(cols):
                    continue
                hh, ww = np.meshgrid(rows, cols, indexing="ij")
                d = rng.integers(-delta, delta, (2, *hh.shape))
                th, tw = hh + d[1], ww + d[0]
                moved = x[th, tw].copy()
                x[th, tw] = x[hh, ww]
                x[hh, ww] = moved


def glass_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma, delta, iterations = P.GLASS_BLUR[severity - 1]
    x = (np.clip(gaussian(unit(img), sigma), 0, 1) * 255).astype(np.uint8)  # the reference's uint8 round trip
    _shuffle_locally(x, delta, iterations, rng)
    return gaussian(unit(x), sigma)


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's anti-aliased disk: a pixel disk (on at least a 17 x 17 grid), normalised, then
    Gaussian-smoothed (3x3, or 5x5 above radius 8)."""
    span = 8 if radius <= 8 else int(radius)
    ksize = (3, 3) if radius <= 8 else (5, 5)
    xx, yy = np.meshgrid(np.arange(-span, span + 1), np.arange(-span, span + 1))
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    disk /= disk.sum()
    return cv2.GaussianBlur(disk, ksize, alias_blur)


def defocus_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return cv2.filter2D(unit(img), -1, disk_kernel(*P.DEFOCUS_BLUR[severity - 1]))



def motion_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = P.MOTION_BLUR[severity - 1]
    return line_blur(unit(img), radius, sigma, rng.uniform(-45, 45))


def zoom_factors(severity: int) -> np.ndarray:
    return np.arange(*P.ZOOM_BLUR[severity - 1])


def zoom_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = unit(img)
    factors = zoom_factors(severity)
    out = x.copy()
    for factor in factors:
        out += clipped_zoom(x, float(factor))
    return out / (len(factors) + 1)
