"""The image that export parity checks and benchmarks run on: the caller's, else a synthetic one.

The library never looks for data on its own (no environment variables, no paths beside the
checkout): a real picture comes from the caller (``--sample`` / ``--image`` on the command line,
tests and benchmarks pass a coco128 image); without one a deterministic synthetic picture is used.
A model of C input channels gets C-channel samples (:func:`with_channels`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from yololab.deploy.runtime.images import load_image, preprocess
from yololab.errors import DataError


def synthetic_image(height: int = 480, width: int = 640, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A deterministic picture with smooth gradients and a few filled rectangles: RGB uint8 (H, W, 3), or
    (H, W, ``channels``) for other channel counts (the RGB picture's gray, or its bands cycled and shifted)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    im = np.stack(((xx * 255 // width), (yy * 255 // height), ((xx + yy) * 127 // (width + height))), -1)
    im = im.astype(np.uint8)
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 40)
        im[y0:y0 + rng.integers(20, 200), x0:x0 + rng.integers(20, 200)] = rng.integers(0, 255, 3)
    return with_channels(im, channels)


def with_channels(rgb: np.ndarray, channels: int) -> np.ndarray:
    """An RGB sample as ``channels`` bands: itself for 3, its gray (H, W, 1) for 1, else the RGB bands
    cycled, each further copy shifted in value so that the bands differ."""
    if channels == 3:
        return rgb
    if channels == 1:
        return rgb.mean(2, keepdims=True).round().astype(np.uint8)
    bands = [(rgb[..., i % 3].astype(np.int32) + 37 * (i // 3)) % 256 for i in range(channels)]
    return np.stack(bands, -1).astype(np.uint8)


def sample_image(sample: str | os.PathLike | None = None, channels: int = 3) -> np.ndarray:
    """(H, W, ``channels``) uint8 picture of the file ``sample``, or the synthetic image when ``sample`` is
    None. An RGB file for a model of other than 3 channels is converted by :func:`with_channels`, a
    grayscale one replicated; any other mismatch is a DataError."""
    if sample is None:
        return synthetic_image(channels=channels)
    if not Path(sample).is_file():
        raise FileNotFoundError(f"sample image not found: {sample}")
    image = load_image(sample)
    have = 1 if image.ndim == 2 else image.shape[2]
    if have == channels:
        return image.reshape(*image.shape[:2], channels)
    if have == 3:
        return with_channels(image, channels)
    if have == 1:  # a grayscale file for a model of more channels: the gray in every channel
        return np.repeat(image.reshape(*image.shape[:2], 1), channels, axis=2)
    raise DataError(f"sample image {sample} has {have} channels, the model reads {channels}: give a "
                    f"{channels}-channel sample (or an RGB or grayscale one)")


def sample_name(sample: str | os.PathLike | None) -> str:
    """How reports name the sample: the file's path, or 'synthetic'."""
    return str(sample) if sample is not None else "synthetic"


def sample_batch(hw: tuple[int, int], batch: int = 1, stride: int = 32,
                 sample: str | os.PathLike | None = None, channels: int = 3) -> np.ndarray:
    """(batch, ``channels``, h, w) float32 letterboxed copies of the sample image."""
    x, _ = preprocess([sample_image(sample, channels)], hw, stride)
    return np.repeat(x, batch, axis=0)
