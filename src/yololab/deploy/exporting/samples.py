"""The image that export parity checks and benchmarks run on: the caller's, else a synthetic one.

The library never looks for data on its own (no environment variables, no paths beside the
checkout): a real picture comes from the caller (``--sample`` / ``--image`` on the command line,
tests and benchmarks pass a coco128 image); without one a deterministic synthetic picture is used.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from yololab.deploy.runtime.images import load_image, preprocess


def synthetic_image(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A deterministic RGB picture with smooth gradients and a few filled rectangles."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    im = np.stack(((xx * 255 // width), (yy * 255 // height), ((xx + yy) * 127 // (width + height))), -1)
    im = im.astype(np.uint8)
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 40)
        im[y0:y0 + rng.integers(20, 200), x0:x0 + rng.integers(20, 200)] = rng.integers(0, 255, 3)
    return im


def sample_image(sample: str | os.PathLike | None = None) -> np.ndarray:
    """RGB uint8 picture of the file ``sample``, or the synthetic image when ``sample`` is None."""
    if sample is None:
        return synthetic_image()
    if not Path(sample).is_file():
        raise FileNotFoundError(f"sample image not found: {sample}")
    return load_image(sample)


def sample_name(sample: str | os.PathLike | None) -> str:
    """How reports name the sample: the file's path, or 'synthetic'."""
    return str(sample) if sample is not None else "synthetic"


def sample_batch(hw: tuple[int, int], batch: int = 1, stride: int = 32,
                 sample: str | os.PathLike | None = None) -> np.ndarray:
    """(batch, 3, h, w) float32 letterboxed copies of the sample image."""
    x, _ = preprocess([sample_image(sample)], hw, stride)
    return np.repeat(x, batch, axis=0)
