"""Noise family (and speckle noise): per-value random perturbations of the [0, 1] image."""

from __future__ import annotations

import numpy as np

from yololab.data.corruptions import params as P


def unit(img: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float32 in [0, 1]."""
    return img.astype(np.float32) / np.float32(255)


def gaussian_noise(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = unit(img)
    return x + rng.normal(0.0, P.GAUSSIAN_NOISE_STD[severity - 1], x.shape).astype(np.float32)


def shot_noise(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = P.SHOT_NOISE_PHOTONS[severity - 1]
    return (rng.poisson(unit(img) * c) / c).astype(np.float32)


def impulse_noise(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper on a fraction of all values (each channel on its own), half salt, half pepper."""
    x = unit(img)
    hit = rng.random(x.shape) < P.IMPULSE_NOISE_AMOUNT[severity - 1]
    salt = rng.random(x.shape) < 0.5
    x[hit & salt] = 1.0
    x[hit & ~salt] = 0.0
    return x


def speckle_noise(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = unit(img)
    return x + x * rng.normal(0.0, P.SPECKLE_NOISE_STD[severity - 1], x.shape).astype(np.float32)
