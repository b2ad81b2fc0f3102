"""Digital family (contrast, elastic transform, pixelate, JPEG), brightness (weather) and saturate."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from yololab.data.corruptions import params as P
from yololab.data.corruptions.noise import unit


def _hsv(x: np.ndarray) -> np.ndarray:
    """float32 RGB [0, 1] -> HSV with H in degrees, S and V in [0, 1] (gray: H = S = 0, as scikit-image)."""
    return cv2.cvtColor(x, cv2.COLOR_RGB2HSV)


def _rgb(hsv: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def brightness(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    hsv = _hsv(unit(img))
    hsv[..., 2] = np.clip(hsv[..., 2] + P.BRIGHTNESS_SHIFT[severity - 1], 0, 1)
    return _rgb(hsv)


def saturate(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    gain, offset = P.SATURATE[severity - 1]
    hsv = _hsv(unit(img))
    hsv[..., 1] = np.clip(hsv[..., 1] * gain + offset, 0, 1)
    return _rgb(hsv)


def contrast(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = unit(img)
    means = x.mean(axis=(0, 1), keepdims=True)
    return (x - means) * P.CONTRAST_FACTOR[severity - 1] + means


def jpeg_compression(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A PIL JPEG round trip at the reference quality (PIL's default 4:2:0 chroma subsampling)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=P.JPEG_QUALITY[severity - 1])
    return np.asarray(Image.open(buf).convert("RGB"))


def pixelate(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Box-downscaled by the factor (PIL), then nearest-upscaled to the original size."""
    h, w = img.shape[:2]
    c = P.PIXELATE_FACTOR[severity - 1]
    small = Image.fromarray(img).resize((max(1, int(w * c)), max(1, int(h * c))), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))


def elastic_transform(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Pixels moved by a smooth random field: uniform displacements up to 0.5% of the height, smoothed
    with a Gaussian of 1% of the height and width (reflect, truncated at 3 sigma), times alpha."""
    x = unit(img)
    h, w = x.shape[:2]
    alpha = P.ELASTIC_ALPHA[severity - 1]
    sigma = (h * P.ELASTIC_SIGMA, w * P.ELASTIC_SIGMA)
    limit = h * P.ELASTIC_MAX
    dx, dy = (gaussian_filter(rng.uniform(-limit, limit, (h, w)), sigma, mode="reflect", truncate=3) * alpha
              for _ in range(2))
    cols, rows = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(x, cols + dx.astype(np.float32), rows + dy.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)
