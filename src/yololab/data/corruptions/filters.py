"""Building blocks shared by the corruptions: Gaussian smoothing, line (motion) blur, centre zoom and
plasma fractals, on float32 images in [0, 1]."""

from __future__ import annotations

import math

import cv2
import numpy as np


def gaussian(x: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing of each channel with edge-replicated borders: scipy's (and scikit-image's
    ``gaussian``) kernel of radius ``int(truncate * sigma + 0.5)`` and mode 'nearest'."""
    radius = int(truncate * sigma + 0.5)
    return cv2.GaussianBlur(x, (2 * radius + 1, 2 * radius + 1), sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REPLICATE)


def shift(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``x`` moved by (dx, dy) whole pixels, the uncovered border filled with the nearest edge pixel."""
    h, w = x.shape[:2]
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
    return cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


def motion_blur(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """One-sided blur along ``angle`` (degrees): the image shifted 0..2*radius pixels back along the
    line, weighted by a half Gaussian of ``sigma`` (imagecorruptions' replacement of ImageMagick's)."""
    width = 2 * radius + 1
    weights = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    weights /= weights.sum()
    sin, cos = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    out = np.zeros(x.shape, np.float32)
    for i in range(width):
        dy, dx = -math.ceil(i * sin - 0.5), -math.ceil(i * cos - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break  # the motion left the image
        out += np.float32(weights[i]) * shift(x, dx, dy)
    return out


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """The centre ``1/factor`` of ``x`` zoomed back to ``x``'s size (bilinear, corner-aligned as
    scipy.ndimage.zoom; the reference keeps the top-left of the zoomed crop, and so does this)."""
    h, w = x.shape[:2]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    oh, ow = round(ch * factor), round(cw * factor)  # scipy's output size; the reference keeps [:h, :w]
    sy = (ch - 1) / (oh - 1) if oh > 1 else 0.0
    sx = (cw - 1) / (ow - 1) if ow > 1 else 0.0
    m = np.array([[sx, 0, left], [0, sy, top]], np.float64)
    return cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """A ``size`` x ``size`` (a power of two) diamond-square height map in [0, 1]; the random
    displacement starts at 100 * U(-100, 100) and is divided by ``decay`` at each halving."""
    if size & (size - 1):
        raise ValueError(f"plasma size {size} is not a power of two")
    grid = np.zeros((size, size), np.float64)
    step, wibble = size, 100.0

    def jitter(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0::step, 0::step]  # square step: centres from the 4 corners (wrapping)
        total = corners + np.roll(corners, -1, axis=0)
        total = total + np.roll(total, -1, axis=1)
        grid[half::step, half::step] = jitter(total)
        centres = grid[half::step, half::step]  # diamond step: edge midpoints from centres and corners
        corners = grid[0::step, 0::step]
        grid[0::step, half::step] = jitter(centres + np.roll(centres, 1, axis=0)
                                           + corners + np.roll(corners, -1, axis=1))
        grid[half::step, 0::step] = jitter(centres + np.roll(centres, 1, axis=1)
                                           + corners + np.roll(corners, -1, axis=0))
        step, wibble = half, wibble / decay
    grid -= grid.min()
    return grid / grid.max()


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()
