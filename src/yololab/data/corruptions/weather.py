"""Weather family (and spatter): snow, frost, fog and brightness (the last in :mod:`digital`)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from yololab.data.corruptions import params as P
from yololab.data.corruptions.filters import clipped_zoom, gaussian, motion_blur, next_power_of_2, plasma_fractal
from yololab.data.corruptions.frost_texture import FROST_TEXTURES, frost_texture
from yololab.data.corruptions.noise import unit


def snow(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    mean, std, zoom, threshold, radius, sigma, blend = P.SNOW[severity - 1]
    x = unit(img)
    h, w = x.shape[:2]
    flakes = rng.normal(mean, std, (h, w)).astype(np.float32)
    flakes = clipped_zoom(flakes, zoom)
    flakes[flakes < threshold] = 0
    flakes = motion_blur(np.clip(flakes, 0, 1), radius, sigma, rng.uniform(-135, -45))
    flakes = (np.round(flakes * 255).astype(np.uint8).astype(np.float32) / 255)[..., None]
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, gray * 1.5 + 0.5)
    return x + flakes + np.rot90(flakes, k=2)


def frost(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """The image dimmed and a random crop of one of the frost textures added (:mod:`frost_texture`)."""
    weight, frost_weight = P.FROST[severity - 1]
    texture = frost_texture(int(rng.integers(FROST_TEXTURES)))
    h, w = img.shape[:2]
    th, tw = texture.shape[:2]
    scale = 1.1 * max(1.0, h / th, w / tw)  # the reference grows a texture smaller than the image, by 10% more
    texture = cv2.resize(texture, (math.ceil(tw * scale), math.ceil(th * scale)), interpolation=cv2.INTER_CUBIC)
    top = int(rng.integers(0, texture.shape[0] - h))
    left = int(rng.integers(0, texture.shape[1] - w))
    crop = texture[top:top + h, left:left + w].astype(np.float32) / 255
    return weight * unit(img) + frost_weight * crop


def fog(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    weight, decay = P.FOG[severity - 1]
    x = unit(img)
    h, w = x.shape[:2]
    peak = x.max()
    haze = plasma_fractal(next_power_of_2(max(h, w)), decay, rng)[:h, :w, None].astype(np.float32)
    return (x + weight * haze) * peak / (peak + weight)


def spatter(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Water drops (severity 1-3: embossed pale turquoise) or mud (4-5: dark brown blots)."""
    mean, std, sigma, threshold, intensity, mud = P.SPATTER[severity - 1]
    x = unit(img)
    liquid = gaussian(rng.normal(mean, std, x.shape[:2]).astype(np.float32), sigma)
    liquid[liquid < threshold] = 0
    if not mud:
        liquid8 = (np.clip(liquid, 0, 1) * 255).astype(np.uint8)
        dist = cv2.distanceTransform(255 - cv2.Canny(liquid8, 50, 150), cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)
        dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, emboss), (3, 3)).astype(np.float32)
        m = liquid8.astype(np.float32) * dist
        m = m / max(float(m.max()), 1e-12) * intensity
        water = np.array([175, 238, 238], np.float32) / 255
        return x + m[..., None] * water
    m = gaussian((liquid > threshold).astype(np.float32), intensity)
    m[m < 0.8] = 0
    brown = np.array([63, 42, 20], np.float32) / 255
    return x * (1 - m[..., None]) + m[..., None] * brown
