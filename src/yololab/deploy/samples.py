"""A real image to check exports and benchmarks with (a synthetic one where none is found)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from yololab.deploy.images import load_image, preprocess

ENV = "YOLOLAB_SAMPLE_IMAGE"
# A development checkout keeps real data in ../shared beside the repository.
_SHARED_VAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "coco128" / "images" / "val2017"


def find_sample_image(sample: str | os.PathLike | None = None) -> Path | None:
    """``sample``, else $YOLOLAB_SAMPLE_IMAGE, else the first coco128 val image in ../shared, else None."""
    for candidate in (sample, os.environ.get(ENV)):
        if candidate:
            if not Path(candidate).is_file():
                raise FileNotFoundError(f"sample image not found: {candidate}")
            return Path(candidate)
    if _SHARED_VAL.is_dir():
        return next(iter(sorted(_SHARED_VAL.glob("*.jpg"))), None)
    return None


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


def sample_batch(hw: tuple[int, int], batch: int = 1, stride: int = 32,
                 sample: str | os.PathLike | None = None) -> np.ndarray:
    """(batch, 3, h, w) float32 letterboxed copies of the sample image."""
    path = find_sample_image(sample)
    image = load_image(path) if path is not None else synthetic_image()
    x, _ = preprocess([image], hw, stride)
    return np.repeat(x, batch, axis=0)
