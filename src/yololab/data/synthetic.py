"""Deterministic YOLO-format datasets of coloured shapes on textured backgrounds (tests, demos): small
images, and large canvases with many small shapes (sliced inference)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from yololab.atomic import atomic_write_bytes, atomic_write_text

Points = np.ndarray  # (k, 2) int32 polygon


def _regular(n: int, start: float) -> Callable[[float, float, float, float], Points]:
    """A regular n-gon (centre, radius, rotation in radians)."""
    def make(cx: float, cy: float, r: float, rot: float) -> Points:
        a = start + rot + np.arange(n) * 2 * math.pi / n
        return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1)
    return make


def _star(cx: float, cy: float, r: float, rot: float) -> Points:
    a = rot - math.pi / 2 + np.arange(10) * math.pi / 5
    rr = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
    return np.stack([cx + rr * np.cos(a), cy + rr * np.sin(a)], 1)


def _cross(cx: float, cy: float, r: float, rot: float) -> Points:
    t = r / 3
    pts = np.array([(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r), (-t, t), (-r, t),
                    (-r, -t), (-t, -t)])
    return pts + (cx, cy)


def _circle(cx: float, cy: float, r: float, rot: float) -> Points:
    return _regular(64, 0.0)(cx, cy, r, 0.0)


#: Drawable class names -> polygon makers. Squares and crosses stay axis-aligned; others may rotate.
SHAPES: dict[str, Callable[[float, float, float, float], Points]] = {
    "circle": _circle,
    "square": lambda cx, cy, r, rot: _regular(4, math.pi / 4)(cx, cy, r, 0.0),
    "triangle": _regular(3, -math.pi / 2),
    "diamond": lambda cx, cy, r, rot: _regular(4, 0.0)(cx, cy, r, 0.0),
    "star": _star,
    "cross": _cross,
    "hexagon": _regular(6, 0.0),
}


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Gradient + blotchy low-frequency noise + fine noise + a few thin lines (RGB uint8)."""
    c0, c1 = rng.uniform(40, 215, (2, 3)).astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    t = np.cos(ang) * ramp[None, :] + np.sin(ang) * ramp[:, None]
    t = ((t - t.min()) / max(float(t.max() - t.min()), 1e-6))[..., None]
    img = c0 + (c1 - c0) * t
    low = cv2.resize(rng.normal(0, 25, (6, 6, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    img += low
    img += rng.standard_normal((size, size, 3), dtype=np.float32) * 8
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):
        p1, p2 = rng.integers(0, size, (2, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.line(img, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), colour, 1, cv2.LINE_AA)
    return img


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _draw_image(rng: np.random.Generator, size: int, classes: Sequence[str],
                max_objects: int) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    img = _background(rng, size)
    n = 0 if rng.random() < 0.05 else int(rng.integers(1, max_objects + 1))  # ~5% background images
    boxes: list[np.ndarray] = []
    labels = []
    for _ in range(n * 10):  # rejection sampling for little overlap
        if len(boxes) == n:
            break
        cls = int(rng.integers(len(classes)))
        r = rng.uniform(0.05, 0.18) * size
        cx, cy = rng.uniform(0, size, 2)
        pts = SHAPES[classes[cls]](cx, cy, r, rng.uniform(0, 2 * math.pi))
        box = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]).clip(0, size)
        bw, bh = box[2] - box[0], box[3] - box[1]
        if bw < 0.6 * r or bh < 0.6 * r or any(_iou(box, b) > 0.1 for b in boxes):
            continue
        _fill_shape(img, pts, rng)
        boxes.append(box)
        labels.append((cls, (box[0] + box[2]) / 2 / size, (box[1] + box[3]) / 2 / size, bw / size, bh / size))
    return img, labels


def _fill_shape(img: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> None:
    """Fill the polygon ``pts`` on ``img`` in a random saturated colour (anti-aliased, sub-pixel)."""
    hue = int(rng.integers(0, 180))
    hsv = np.uint8([[[hue, int(rng.integers(170, 256)), int(rng.integers(150, 256))]]])
    colour = tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])
    cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)


def make_synthetic_dataset(root: str | os.PathLike, num_train: int = 160, num_val: int = 40, img_size: int = 256,
                           classes: Sequence[str] = ("circle", "square", "triangle"), seed: int = 0,
                           max_objects: int = 6, jpeg_quality: int = 90) -> Path:
    """Write ``root/{images,labels}/{train,val}`` and ``root/data.yaml``; returns the YAML path.

    Deterministic for a given seed (each image has its own generator, so counts don't shift others).
    Class names must be keys of :data:`SHAPES`.
    """
    def encode(img: np.ndarray, rng: np.random.Generator, i: int) -> tuple[bytes, str]:
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        if not ok:
            raise OSError(f"could not encode image {i} of {root}")
        return jpeg.tobytes(), ".jpg"

    return _write_shapes_set(root, {"train": num_train, "val": num_val}, img_size, classes, seed, max_objects, encode)


def _write_shapes_set(root: str | os.PathLike, counts: dict[str, int], img_size: int, classes: Sequence[str],
                      seed: int, max_objects: int, encode: Callable[[np.ndarray, np.random.Generator, int],
                                                                    tuple[bytes, str]],
                      **yaml_keys: object) -> Path:
    """Draw, encode (``encode(rgb, rng, i) -> (bytes, suffix)``) and write each split's images and labels
    and ``root/data.yaml`` (with ``yaml_keys``); returns the YAML path."""
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes:
        raise ValueError(f"unknown shape class(es) {unknown}; choose from {sorted(SHAPES)}")
    root = Path(root)
    for split_idx, (split, count) in enumerate(counts.items()):
        img_dir, lab_dir = root / "images" / split, root / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rng = np.random.default_rng([seed, split_idx, i])
            img, labels = _draw_image(rng, img_size, list(classes), max_objects)
            stem = f"{split}_{i:05d}"
            data, suffix = encode(img, rng, i)
            atomic_write_bytes(img_dir / f"{stem}{suffix}", data, root)
            atomic_write_text(lab_dir / f"{stem}.txt",
                              "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels), root)
    cfg = {"path": ".", "train": "images/train", "val": "images/val", "names": dict(enumerate(classes)), **yaml_keys}
    yaml_path = root / "data.yaml"
    atomic_write_text(yaml_path, yaml.safe_dump(cfg, sort_keys=False), root)
    return yaml_path


def draw_large_canvas(rng: np.random.Generator, size: int, classes: Sequence[str], num_objects: int,
                      radius: tuple[float, float] = (6.0, 20.0)) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` textured canvas with up to ``num_objects`` small, non-overlapping shapes of
    ``radius`` px; returns the RGB image and (n, 5) float64 boxes: class, x1, y1, x2, y2 in pixels."""
    img = _background(rng, size)
    boxes: list[np.ndarray] = []
    labels = []
    for _ in range(num_objects * 20):  # rejection sampling: no overlaps
        if len(boxes) == num_objects:
            break
        cls = int(rng.integers(len(classes)))
        r = rng.uniform(*radius)
        cx, cy = rng.uniform(r, size - r, 2)
        pts = SHAPES[classes[cls]](cx, cy, r, rng.uniform(0, 2 * math.pi))
        box = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]).clip(0, size)
        if any(_iou(box + (-2, -2, 2, 2), b) > 0 for b in boxes):
            continue
        _fill_shape(img, pts, rng)
        boxes.append(box)
        labels.append((cls, *box))
    return img, np.asarray(labels, np.float64).reshape(-1, 5)


def make_large_synthetic_dataset(root: str | os.PathLike, num_train: int = 4, num_val: int = 2,
                                 canvas: int = 2048, classes: Sequence[str] = ("circle", "square", "triangle"),
                                 seed: int = 0, objects: int = 80, radius: tuple[float, float] = (6.0, 20.0),
                                 jpeg_quality: int = 90) -> Path:
    """Large canvases with many small shapes (sliced inference, tiled training), in the layout of
    :func:`make_synthetic_dataset`; returns the data YAML's path. Deterministic for a given seed."""
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes:
        raise ValueError(f"unknown shape class(es) {unknown}; choose from {sorted(SHAPES)}")
    if canvas < 4 * radius[1]:
        raise ValueError(f"canvas {canvas} px is too small for shapes of radius up to {radius[1]} px")
    root = Path(root)
    for split_idx, (split, count) in enumerate({"train": num_train, "val": num_val}.items()):
        img_dir, lab_dir = root / "images" / split, root / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            img, boxes = draw_large_canvas(np.random.default_rng([seed, 7, split_idx, i]), canvas, list(classes),
                                           objects, radius)
            stem = f"{split}_{i:05d}"
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if not ok:
                raise OSError(f"could not encode {img_dir / stem}.jpg")
            atomic_write_bytes(img_dir / f"{stem}.jpg", jpeg.tobytes(), root)
            lines = "".join(f"{int(c)} {(x1 + x2) / 2 / canvas:.6f} {(y1 + y2) / 2 / canvas:.6f} "
                            f"{(x2 - x1) / canvas:.6f} {(y2 - y1) / canvas:.6f}\n" for c, x1, y1, x2, y2 in boxes)
            atomic_write_text(lab_dir / f"{stem}.txt", lines, root)
    cfg = {"path": ".", "train": "images/train", "val": "images/val", "names": dict(enumerate(classes))}
    yaml_path = root / "data.yaml"
    atomic_write_text(yaml_path, yaml.safe_dump(cfg, sort_keys=False), root)
    return yaml_path


#: the pixel kinds of :func:`make_synthetic_pixels_dataset`: name -> (channels, file suffix)
PIXEL_KINDS = {"gray16": (1, ".png"), "rgb16": (3, ".png"), "bands4": (4, ".tif")}


def _pixels_image(img: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A drawn RGB uint8 image as 16-bit data: grey (1 channel), RGB, or R, G, B and a fourth band in
    which the (saturated) shapes are bright, each 8-bit value v becoming 256 v plus a random low byte, so that
    the low 8 bits carry information (a reader that truncates to 8 bits loses them)."""
    if kind == "gray16":
        base = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[:, :, None]
    elif kind == "rgb16":
        base = img
    else:
        rgb = img.astype(np.int16)
        band4 = (rgb.max(2) - rgb.min(2)).astype(np.uint8)  # saturation-like: shapes bright, background dark
        base = np.concatenate([img, band4[:, :, None]], 2)
    low = rng.integers(0, 256, base.shape, dtype=np.uint16)
    return base.astype(np.uint16) * np.uint16(256) + low


def _encode_pixels(image: np.ndarray, kind: str, planar: bool) -> bytes:
    """16-bit PNG bytes (grey or RGB) or TIFF bytes (bands interleaved, or planar when ``planar``)."""
    if kind in ("gray16", "rgb16"):
        ok, png = cv2.imencode(".png", image[:, :, 0] if kind == "gray16" else image[:, :, ::-1])
        if not ok:
            raise OSError("could not encode a 16-bit PNG")
        return png.tobytes()
    import io

    import tifffile

    buf = io.BytesIO()
    data = np.ascontiguousarray(image.transpose(2, 0, 1)) if planar else image
    tifffile.imwrite(buf, data, photometric="minisblack", planarconfig="separate" if planar else "contig")
    return buf.getvalue()


def make_synthetic_pixels_dataset(root: str | os.PathLike, kind: str = "gray16", num_train: int = 16,
                                  num_val: int = 8, img_size: int = 128,
                                  classes: Sequence[str] = ("circle", "square", "triangle"), seed: int = 0,
                                  max_objects: int = 4) -> Path:
    """A small data set of 16-bit images in the layout of :func:`make_synthetic_dataset` (the same shapes
    and labels for a seed): ``kind`` 'gray16' (1-channel 16-bit PNG), 'rgb16' (16-bit RGB PNG) or
    'bands4' (4-band 16-bit TIFF, every other image planar); its data.yaml sets ``channels``. Returns
    the YAML's path."""
    if kind not in PIXEL_KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(PIXEL_KINDS)}")
    channels, suffix = PIXEL_KINDS[kind]

    def encode(img: np.ndarray, rng: np.random.Generator, i: int) -> tuple[bytes, str]:
        return _encode_pixels(_pixels_image(img, kind, rng), kind, planar=i % 2 == 1), suffix

    return _write_shapes_set(root, {"train": num_train, "val": num_val}, img_size, classes, seed, max_objects, encode,
                             channels=channels)
