"""Image corruptions of the robustness benchmarks (ImageNet-C / COCO-C, Hendrycks & Dietterich 2019;
Michaelis et al. 2019), at the reference parameters of severities 1-5, on images of any size.

``corrupt(image, name, severity, seed)`` maps an HxWx3 uint8 RGB image to a corrupted one of the same
shape and dtype; the same (image, name, severity, seed) always gives the same bytes. ``NAMES`` are the
15 benchmark corruptions followed by the 4 extra (held-out) ones; ``FAMILIES`` groups the 15.
Written with numpy / scipy / OpenCV / PIL (see docs/robustness.md for where this differs from
bethgelab/imagecorruptions).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from yololab.data.corruptions import blur, digital, noise, weather

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

_FUNCTIONS: dict[str, Corruption] = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise,
    "defocus_blur": blur.defocus_blur,
    "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur,
    "zoom_blur": blur.zoom_blur,
    "snow": weather.snow,
    "frost": weather.frost,
    "fog": weather.fog,
    "brightness": digital.brightness,
    "contrast": digital.contrast,
    "elastic_transform": digital.elastic_transform,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "speckle_noise": noise.speckle_noise,
    "gaussian_blur": blur.gaussian_blur,
    "spatter": weather.spatter,
    "saturate": digital.saturate,
}

NAMES: tuple[str, ...] = tuple(_FUNCTIONS)
BENCHMARK: tuple[str, ...] = NAMES[:15]
EXTRA: tuple[str, ...] = NAMES[15:]
FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": NAMES[0:3], "blur": NAMES[3:7], "weather": NAMES[7:11], "digital": NAMES[11:15],
}
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
MIN_SIDE = 32  # as the reference


def check(name: str, severity: int) -> None:
    """Refuse an unknown corruption name or a severity outside 1-5 (ValueError, one sentence)."""
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown corruption {name!r}: expected one of {', '.join(NAMES)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise ValueError(f"corruption severity {severity!r}: expected an integer from 1 to 5")


def corrupt(image: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``image`` (HxWx3 uint8 RGB, both sides >= 32) under corruption ``name`` at ``severity`` 1-5.

    The random draws come from ``seed`` (a non-negative integer), the corruption and the severity,
    so equal inputs give equal bytes; the float result is clipped to [0, 1] and truncated to uint8, as
    the reference does.
    """
    check(name, severity)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"corrupt: expected an HxWx3 uint8 image, got {got}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(f"corrupt: image {image.shape[1]}x{image.shape[0]} is smaller than "
                         f"{MIN_SIDE}x{MIN_SIDE} pixels")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"corrupt: seed {seed!r} is not a non-negative integer")
    rng = np.random.default_rng([int(seed), NAMES.index(name), int(severity)])
    out = _FUNCTIONS[name](np.ascontiguousarray(image), int(severity), rng)
    if out.dtype != np.uint8:
        out = (np.clip(out, 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(out)


__all__ = ["BENCHMARK", "EXTRA", "FAMILIES", "NAMES", "SEVERITIES", "check", "corrupt"]
