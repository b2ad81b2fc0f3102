"""Upstream's mosaic + random affine without the (2*size)^2 canvas: one composed warp per tile.

Upstream resizes each of the 4 images, pastes them on a 2x canvas and warps the canvas into the output.
Here the layout, the labels and the random matrix are drawn first (:func:`plan_mosaic`, the same draws in
the same order as :func:`~yololab.data.augment.mosaic4` + :func:`~yololab.data.augment.random_perspective`,
so a seed gives the same labels on both paths); then each tile is warped once, from whatever array holds
the image (decoded at any size, or cached at the frame size), straight into its part of the output
(:func:`render_tile`): resize, placement and the affine are one 3x3 matrix. A tile that falls outside the
output is never decoded (:func:`tile_region` is None).

Without rotation, shear and perspective (upstream's default hyp) each tile covers an exact rectangle of the
output; otherwise it is warped over its bounding box with a transparent border, so that tiles do not
overwrite one another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from yololab.data.augment import (
    PAD_VALUE,
    AugmentConfig,
    MosaicTile,
    mosaic_labels,
    mosaic_layout,
    warp_boxes,
    warp_matrix,
)
from yololab.data.imaging.pixels import pad_value


@dataclass(frozen=True)
class MosaicPlan:
    """A drawn mosaic: tiles on the virtual canvas, the 3x3 canvas -> output matrix, its random scale, and
    the output's pixel [cls, x1, y1, x2, y2] labels (warped, clipped, filtered as upstream)."""

    size: int
    tiles: tuple[MosaicTile, ...]
    matrix: np.ndarray
    scale: float
    perspective: bool
    labels: np.ndarray

    @property
    def axis_aligned(self) -> bool:
        """True when the matrix only scales and translates (no rotation, shear or perspective)."""
        m = self.matrix
        return not self.perspective and m[0, 1] == 0 and m[1, 0] == 0


def plan_mosaic(frame_hws: Sequence[tuple[int, int]], labels: Sequence[np.ndarray], size: int,
                cfg: AugmentConfig, rng: np.random.Generator) -> MosaicPlan:
    """Draw a mosaic of 4 images of frame sizes ``frame_hws`` (long side ``size``) with normalised labels."""
    if len(frame_hws) != 4 or len(labels) != 4:
        raise ValueError("a mosaic needs exactly 4 images and 4 label arrays")
    tiles = mosaic_layout(frame_hws, size, rng)
    canvas_labels = mosaic_labels(tiles, labels, size)
    m, s = warp_matrix((2 * size, 2 * size), (size, size), cfg, rng)
    perspective = bool(cfg.perspective)
    return MosaicPlan(size, tuple(tiles), m, s, perspective,
                      warp_boxes(canvas_labels, m, s, (size, size), perspective))


def _apply(m: np.ndarray, xy: np.ndarray) -> np.ndarray:
    p = np.ones((len(xy), 3))  # homogeneous points (the same array np.c_ builds, without its overhead)
    p[:, :2] = xy
    p = p @ m.T
    return p[:, :2] / p[:, 2:3]


def tile_region(plan: MosaicPlan, tile: MosaicTile) -> tuple[int, int, int, int] | None:
    """The output pixels (x1, y1, x2, y2) that ``tile`` may cover, or None when it is out of sight.

    Axis-aligned: exactly the output pixels whose nearest canvas pixel is in the tile (so neighbouring
    tiles share their edges without gaps or overlap). Otherwise the bounding box of the warped crop.
    """
    x1, y1, x2, y2 = tile.canvas_box
    if x2 <= x1 or y2 <= y1:
        return None
    n = plan.size
    if plan.axis_aligned:
        (u1, v1), (u2, v2) = _apply(plan.matrix, np.array([[x1 - 0.5, y1 - 0.5], [x2 - 0.5, y2 - 0.5]]))
        box = (math.ceil(u1), math.ceil(v1), math.ceil(u2), math.ceil(v2))
    else:
        uv = _apply(plan.matrix, np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], dtype=np.float64))
        box = (math.floor(uv[:, 0].min()), math.floor(uv[:, 1].min()),
               math.ceil(uv[:, 0].max()) + 1, math.ceil(uv[:, 1].max()) + 1)
    bx1, by1, bx2, by2 = max(box[0], 0), max(box[1], 0), min(box[2], n), min(box[3], n)
    return (bx1, by1, bx2, by2) if bx2 > bx1 and by2 > by1 else None


def _source_to_frame(src_hw: tuple[int, int], frame_hw: tuple[int, int]) -> np.ndarray:
    """3x3 map from a (h, w) array's pixels to the frame's, with cv2.resize's pixel-centre convention."""
    kx, ky = frame_hw[1] / src_hw[1], frame_hw[0] / src_hw[0]
    return np.array([[kx, 0, 0.5 * kx - 0.5], [0, ky, 0.5 * ky - 0.5], [0, 0, 1]])


def render_tile(out: np.ndarray, plan: MosaicPlan, tile: MosaicTile, src: np.ndarray,
                region: tuple[int, int, int, int]) -> None:
    """Warp the tile's image ``src`` (its whole frame, at any size) into ``out[region]`` with one warp."""
    x1, y1, x2, y2 = region
    place = np.array([[1, 0, tile.offset[0]], [0, 1, tile.offset[1]], [0, 0, 1]], dtype=np.float64)
    to_roi = np.array([[1, 0, -x1], [0, 1, -y1], [0, 0, 1]], dtype=np.float64)
    frame = _source_to_frame(src.shape[:2], tile.frame_hw)
    dst = out[y1:y2, x1:x2]
    if plan.axis_aligned:  # the region is exactly the tile's: edge samples replicate the image's own pixels
        m = to_roi @ plan.matrix @ place @ frame
        cv2.warpAffine(src, m[:2], (x2 - x1, y2 - y1), dst=dst, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        return
    # the bounding box overlaps the neighbours: warp the tile's crop only, leaving other pixels untouched
    cx1, cy1, cx2, cy2 = tile.canvas_box
    fx1, fy1 = cx1 - tile.offset[0], cy1 - tile.offset[1]  # the crop's first and last frame pixels
    fx2, fy2 = cx2 - tile.offset[0] - 1, cy2 - tile.offset[1] - 1
    (sx1, sy1), (sx2, sy2) = _apply(np.linalg.inv(frame), np.array([[fx1, fy1], [fx2, fy2]], dtype=np.float64))
    h, w = src.shape[:2]
    sx1, sy1 = max(math.floor(sx1), 0), max(math.floor(sy1), 0)
    sx2, sy2 = min(math.ceil(sx2) + 1, w), min(math.ceil(sy2) + 1, h)
    crop = np.array([[1, 0, sx1], [0, 1, sy1], [0, 0, 1]], dtype=np.float64)
    m = to_roi @ plan.matrix @ place @ frame @ crop
    part = src[sy1:sy2, sx1:sx2]
    if plan.perspective:
        cv2.warpPerspective(part, m, (x2 - x1, y2 - y1), dst=dst, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_TRANSPARENT)
    else:
        cv2.warpAffine(part, m[:2], (x2 - x1, y2 - y1), dst=dst, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_TRANSPARENT)


def new_output(plan: MosaicPlan, channels: int = 3, dtype: np.dtype = np.uint8) -> np.ndarray:
    """The (size, size, channels) output filled with upstream's pad value in ``dtype``."""
    value = PAD_VALUE if np.dtype(dtype) == np.uint8 else pad_value(dtype)
    return np.full((plan.size, plan.size, channels), value, dtype=dtype)
