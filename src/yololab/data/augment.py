"""Detection augmentations on (H, W, C) images (uint8 RGB photos; uint16, float32 and any channel count
keep their dtype and channels) with pixel [cls, x1, y1, x2, y2] labels.

Behaviour and default strengths follow upstream YOLOv5 (``hyp.scratch-low.yaml``). Every random
function takes an explicit ``numpy.random.Generator`` so that results are reproducible per item.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np
import yaml

from yololab.config import from_mapping
from yololab.data.boxes import xywhn_to_xyxy
from yololab.data.imaging.pixels import dtype_max, pad_tuple, pad_value

# the letterbox grey of uint8 images (:func:`yololab.data.imaging.pixels.pad_value` for the others)
PAD_VALUE = 114


def keep_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """OpenCV drops the channel axis of (H, W, 1) images: put it back."""
    return out[:, :, None] if out.ndim == 2 and like.ndim == 3 else out


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths, named as in upstream hyp files (defaults: hyp.scratch-low)."""

    hsv_h: float = 0.015  # hue gain (fraction)
    hsv_s: float = 0.7  # saturation gain (fraction)
    hsv_v: float = 0.4  # value gain (fraction)
    degrees: float = 0.0  # rotation (+/- deg)
    translate: float = 0.1  # translation (+/- fraction)
    scale: float = 0.5  # scale (+/- gain)
    shear: float = 0.0  # shear (+/- deg)
    perspective: float = 0.0  # perspective (+/- fraction), 0-0.001
    flipud: float = 0.0  # flip up-down probability
    fliplr: float = 0.5  # flip left-right probability
    mosaic: float = 1.0  # mosaic probability
    mixup: float = 0.0  # mixup probability

    @classmethod
    def from_dict(cls, d: Mapping[str, float], strict: bool = True) -> AugmentConfig:
        """Build from a mapping: strictly (the config loader's checks), or leniently for a whole upstream
        hyp file (``strict=False``: keys that are not augmentation strengths ignored)."""
        if strict:
            return from_mapping(cls, d, "augment")
        known = {f.name for f in fields(cls)}
        return from_mapping(cls, {k: v for k, v in d.items() if k in known}, "augment")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, strict: bool = False) -> AugmentConfig:
        """Read the augmentation keys of an upstream-style hyp YAML (other keys ignored unless ``strict``)."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(yaml.safe_load(f) or {}, strict=strict)

    def to_dict(self) -> dict[str, float]:
        """Plain dict of the fields."""
        return asdict(self)


def letterbox(im: np.ndarray, new_shape: int | Sequence[int] = 640, color: tuple[float, ...] | None = None,
              auto: bool = True, scale_fill: bool = False, scaleup: bool = True,
              stride: int = 32) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Resize keeping the aspect ratio and pad to ``new_shape`` (h, w).

    ``auto`` pads only to the next multiple of ``stride``; ``scaleup=False`` never enlarges; ``scale_fill``
    stretches without padding. Returns (image, (w ratio, h ratio), (pad left, pad top)) where the padding
    is the (possibly half-pixel) amount per side, as upstream reports it. ``color``: the pad, by default
    upstream's grey 114 in the image's dtype (:func:`yololab.data.imaging.pixels.pad_value`).
    """
    like = im
    if color is None:
        color = pad_tuple(im.dtype, im.shape[2] if im.ndim == 3 else 1)
    h0, w0 = im.shape[:2]
    nh, nw = (new_shape, new_shape) if isinstance(new_shape, int) else (int(new_shape[0]), int(new_shape[1]))
    r = min(nh / h0, nw / w0)
    if not scaleup:
        r = min(r, 1.0)
    ratio = (r, r)
    uw, uh = round(w0 * r), round(h0 * r)
    dw, dh = nw - uw, nh - uh
    if auto:
        dw, dh = dw % stride, dh % stride
    elif scale_fill:
        dw, dh, uw, uh = 0, 0, nw, nh
        ratio = (nw / w0, nh / h0)
    if (uw, uh) != (w0, h0):
        im = cv2.resize(im, (uw, uh), interpolation=cv2.INTER_LINEAR)
    top, left = dh // 2, dw // 2  # odd padding: the extra pixel goes bottom/right
    if dw or dh:
        im = cv2.copyMakeBorder(im, top, dh - top, left, dw - left, cv2.BORDER_CONSTANT, value=color)
    return keep_channels(im, like), ratio, (dw / 2, dh / 2)


def box_candidates(box1: np.ndarray, box2: np.ndarray, wh_thr: float = 2, ar_thr: float = 100,
                   area_thr: float = 0.1, eps: float = 1e-16) -> np.ndarray:
    """Boolean mask of boxes kept after a warp: box2 (4, n) wider/taller than ``wh_thr`` px, keeping more
    than ``area_thr`` of box1's (4, n) area and an aspect ratio below ``ar_thr``."""
    w1, h1 = box1[2] - box1[0], box1[3] - box1[1]
    w2, h2 = box2[2] - box2[0], box2[3] - box2[1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def warp_matrix(in_hw: tuple[int, int], out_hw: tuple[int, int], cfg: AugmentConfig,
                 rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """3x3 matrix: centre, perspective, rotate+scale, shear, translate (applied in that order); and the scale."""
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -in_hw[1] / 2, -in_hw[0] / 2
    persp = np.eye(3)
    persp[2, 0], persp[2, 1] = rng.uniform(-cfg.perspective, cfg.perspective, 2)
    rot = np.eye(3)
    angle = rng.uniform(-cfg.degrees, cfg.degrees)
    s = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    rot[:2] = cv2.getRotationMatrix2D(angle=angle, center=(0, 0), scale=s)
    shear = np.eye(3)
    sx, sy = rng.uniform(-cfg.shear, cfg.shear, 2)
    shear[0, 1], shear[1, 0] = math.tan(math.radians(sx)), math.tan(math.radians(sy))
    trans = np.eye(3)
    trans[0, 2] = rng.uniform(0.5 - cfg.translate, 0.5 + cfg.translate) * out_hw[1]
    trans[1, 2] = rng.uniform(0.5 - cfg.translate, 0.5 + cfg.translate) * out_hw[0]
    return trans @ shear @ rot @ persp @ centre, s


def random_perspective(im: np.ndarray, labels: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator,
                       border: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Random rotation/scale/shear/translation/perspective of an image and its pixel xyxy labels (n, 5).

    The output is the input size plus ``2 * border`` (a negative border crops, as for the mosaic).
    Warped boxes are the enclosing boxes of their warped corners, clipped, then filtered by
    :func:`box_candidates`.
    """
    out_h, out_w = im.shape[0] + 2 * border[0], im.shape[1] + 2 * border[1]
    m, s = warp_matrix(im.shape[:2], (out_h, out_w), cfg, rng)
    if border != (0, 0) or not np.array_equal(m, np.eye(3)):
        like = im
        pad = pad_tuple(im.dtype, im.shape[2] if im.ndim == 3 else 1)
        if cfg.perspective:
            im = cv2.warpPerspective(im, m, dsize=(out_w, out_h), borderValue=pad)
        else:
            im = cv2.warpAffine(im, m[:2], dsize=(out_w, out_h), borderValue=pad)
        im = keep_channels(im, like)
    return im, warp_boxes(labels, m, s, (out_h, out_w), bool(cfg.perspective))


def warp_boxes(labels: np.ndarray, m: np.ndarray, s: float, out_hw: tuple[int, int],
               perspective: bool) -> np.ndarray:
    """Pixel [cls, x1, y1, x2, y2] labels (n, 5) through the 3x3 warp ``m`` of random scale ``s`` into an
    ``out_hw`` image: the enclosing boxes of the warped corners, clipped, then kept by :func:`box_candidates`."""
    n = len(labels)
    if not n:
        return labels
    out_h, out_w = out_hw
    corners = np.ones((n * 4, 3))
    corners[:, :2] = labels[:, [1, 2, 3, 4, 1, 4, 3, 2]].reshape(n * 4, 2)
    corners = corners @ m.T
    xy = (corners[:, :2] / corners[:, 2:3] if perspective else corners[:, :2]).reshape(n, 8)
    xs, ys = xy[:, 0::2], xy[:, 1::2]
    new = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], 1)
    new[:, [0, 2]] = new[:, [0, 2]].clip(0, out_w)
    new[:, [1, 3]] = new[:, [1, 3]].clip(0, out_h)
    keep = box_candidates(labels[:, 1:5].T * s, new.T)
    out = labels[keep].copy()
    out[:, 1:5] = new[keep]
    return out


def hsv_luts(gains: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hue (mod 180), saturation and value tables (uint8, 256 entries each) of the gains (3,)."""
    x = np.arange(256, dtype=np.float64)
    return (((x * gains[0]) % 180).astype(np.uint8), np.clip(x * gains[1], 0, 255).astype(np.uint8),
            np.clip(x * gains[2], 0, 255).astype(np.uint8))


def augment_colour(im: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator,
                   planes: np.ndarray | None = None) -> np.ndarray:
    """Colour augmentation in place: HSV (:func:`augment_hsv`) on 3-channel uint8 images, per-channel
    brightness/contrast/gamma (:func:`augment_levels`) on every other image."""
    if im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8:
        return augment_hsv(im, cfg, rng, planes=planes)
    return augment_levels(im, cfg, rng)


def augment_levels(im: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Per channel, on values scaled to [0, 1] by the dtype: gamma ``1 +- 10 * hsv_h``, brightness gain
    ``1 +- hsv_v`` and contrast about the channel's mean ``1 +- hsv_s / 2`` (0.85-1.15, 0.6-1.4 and
    0.65-1.35 at upstream's default gains), clipped; in place (also returned). Nothing when the gains are 0."""
    if not (cfg.hsv_h or cfg.hsv_s or cfg.hsv_v):
        return im
    c = im.shape[2] if im.ndim == 3 else 1
    draws = rng.uniform(-1, 1, (3, c))
    gamma = 1 + draws[0] * min(10 * cfg.hsv_h, 0.9)
    gain = 1 + draws[1] * cfg.hsv_v
    contrast = 1 + draws[2] * cfg.hsv_s / 2
    top = dtype_max(im.dtype)
    x = im.reshape(im.shape[0], im.shape[1], c).astype(np.float32) / np.float32(top)
    np.clip(x, 0, 1, out=x)
    x = np.power(x, gamma.astype(np.float32)) * gain.astype(np.float32)
    mean = x.mean(axis=(0, 1), keepdims=True)
    x = (x - mean) * contrast.astype(np.float32) + mean
    np.clip(x, 0, 1, out=x)
    if top != 1.0:
        x = np.rint(x * np.float32(top))
    im[...] = x.reshape(im.shape).astype(im.dtype)
    return im


def augment_hsv(im: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator,
                planes: np.ndarray | None = None) -> np.ndarray:
    """Random hue/saturation/value gains on an RGB uint8 image, in place (also returned).

    The image goes to HSV and back in place, and each HSV plane through its own table as a single-channel
    lookup (much faster in OpenCV than one 3-channel table); ``planes`` is optional (3, h, w) uint8 scratch
    for the planes (its contents are overwritten), allocated when not given.
    """
    if not (cfg.hsv_h or cfg.hsv_s or cfg.hsv_v):
        return im
    gains = rng.uniform(-1, 1, 3) * (cfg.hsv_h, cfg.hsv_s, cfg.hsv_v) + 1
    work = im if im.flags.c_contiguous else np.ascontiguousarray(im)
    h, w = work.shape[:2]
    if planes is None or planes.shape != (3, h, w) or planes.dtype != np.uint8 or not planes.flags.c_contiguous:
        planes = np.empty((3, h, w), dtype=np.uint8)
    views = [planes[0], planes[1], planes[2]]
    cv2.cvtColor(work, cv2.COLOR_RGB2HSV, dst=work)
    cv2.split(work, views)
    for plane, lut in zip(views, hsv_luts(gains)):
        cv2.LUT(plane, lut, dst=plane)
    cv2.merge(views, dst=work)
    cv2.cvtColor(work, cv2.COLOR_HSV2RGB, dst=work)
    if work is not im:
        im[...] = work
    return im


@dataclass(frozen=True)
class MosaicTile:
    """One image of a 4-image mosaic on its (2*size, 2*size) canvas: the image is ``frame_hw`` (h, w) big,
    ``canvas_box`` (x1, y1, x2, y2) is where its crop lands and ``offset`` (x, y) where its pixel (0, 0) does."""

    frame_hw: tuple[int, int]
    canvas_box: tuple[int, int, int, int]
    offset: tuple[int, int]


def mosaic_layout(frame_hws: Sequence[tuple[int, int]], size: int, rng: np.random.Generator) -> list[MosaicTile]:
    """Upstream's 4-image layout around a random centre of the (2*size)^2 canvas: image 0 top-left of the
    centre, 1 top-right, 2 bottom-left, 3 bottom-right, each touching the centre and cropped by the canvas."""
    s2 = 2 * size
    xc, yc = (int(v) for v in rng.uniform(size // 2, s2 - size // 2, 2))
    tiles = []
    for i, (h, w) in enumerate(frame_hws):
        # destination corner (on the canvas) touching the centre, then the matching source crop
        x1a, x2a = (max(xc - w, 0), xc) if i in (0, 2) else (xc, min(xc + w, s2))
        y1a, y2a = (max(yc - h, 0), yc) if i in (0, 1) else (yc, min(yc + h, s2))
        x1b = w - (x2a - x1a) if i in (0, 2) else 0
        y1b = h - (y2a - y1a) if i in (0, 1) else 0
        tiles.append(MosaicTile((int(h), int(w)), (x1a, y1a, x2a, y2a), (x1a - x1b, y1a - y1b)))
    return tiles


def mosaic_labels(tiles: Sequence[MosaicTile], labels: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Normalised [cls, cx, cy, w, h] labels per tile -> canvas pixel [cls, x1, y1, x2, y2], clipped to the
    canvas (not to each tile, as upstream)."""
    out = []
    for tile, lab in zip(tiles, labels):
        lab = np.asarray(lab, dtype=np.float32).reshape(-1, 5)
        if len(lab):
            lab = lab.copy()
            (h, w), (px, py) = tile.frame_hw, tile.offset
            lab[:, 1:] = xywhn_to_xyxy(lab[:, 1:], w, h, px, py)
        out.append(lab)
    merged = np.concatenate(out, 0)
    np.clip(merged[:, 1:], 0, 2 * size, out=merged[:, 1:])
    return merged


def mosaic4(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], size: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tile 4 images (:func:`mosaic_layout`) onto a (2*size, 2*size) canvas filled with 114 (in their dtype).

    ``labels`` are normalised [cls, cx, cy, w, h] per image; returns the canvas and pixel [cls, x1, y1, x2, y2]
    labels clipped to it. :mod:`yololab.data.mosaic` builds the same mosaic, warped, without the canvas.
    """
    if len(images) != 4 or len(labels) != 4:
        raise ValueError("mosaic4 needs exactly 4 images and 4 label arrays")
    tiles = mosaic_layout([im.shape[:2] for im in images], size, rng)
    canvas = np.full((2 * size, 2 * size, images[0].shape[2]), pad_value(images[0].dtype), dtype=images[0].dtype)
    for img, tile in zip(images, tiles):
        x1a, y1a, x2a, y2a = tile.canvas_box
        x1b, y1b = x1a - tile.offset[0], y1a - tile.offset[1]
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y1b + (y2a - y1a), x1b:x1b + (x2a - x1a)]
    return canvas, mosaic_labels(tiles, labels, size)


def mixup(im: np.ndarray, labels: np.ndarray, im2: np.ndarray, labels2: np.ndarray,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blend two same-size images with a Beta(32, 32) ratio and concatenate their labels."""
    r = rng.beta(32.0, 32.0)
    out = (im * r + im2 * (1 - r)).astype(im.dtype)
    return out, np.concatenate((labels, labels2), 0)


def random_flip(im: np.ndarray, labels_xywhn: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator,
                in_place: bool = False) -> np.ndarray:
    """Flip up-down (``flipud``) and left-right (``fliplr``) with normalised [cls, cx, cy, w, h] labels (in place).

    The image comes back as a flipped view, or with ``in_place`` (a C-contiguous image) flipped in its own
    memory, ready for routines that need contiguous arrays.
    """
    up = rng.random() < cfg.flipud
    if up:
        labels_xywhn[:, 2] = 1 - labels_xywhn[:, 2]
    lr = rng.random() < cfg.fliplr
    if lr:
        labels_xywhn[:, 1] = 1 - labels_xywhn[:, 1]
    if in_place and im.flags.c_contiguous and (up or lr):
        cv2.flip(im, -1 if up and lr else 0 if up else 1, dst=im)
        return im
    if up:
        im = np.flipud(im)
    if lr:
        im = np.fliplr(im)
    return im
