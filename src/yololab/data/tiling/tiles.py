"""Tiled training's settings and index: large images cut into the windows of sliced inference's grid
(:func:`yololab.data.tiling.grid.slice_grid`), each window one training item, its boxes clipped to it.

A box cut by a window's border is kept, clipped to the window, when at least ``min_visibility`` of its
area lies inside the window, and dropped otherwise (a box entirely outside is always dropped). Images no
larger than a tile on either side are one whole-image item, as without tiles; ``whole_images`` adds each
larger image as one whole-image item too (SAHI's fine-tuning recipe: tiles plus the resized full images).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yololab.config import from_mapping
from yololab.data.tiling.grid import slice_grid
from yololab.errors import ConfigError

Window = tuple[int, int, int, int]  # x1, y1, x2, y2 in the original image's pixels


@dataclass(frozen=True)
class TileSettings:
    """``tiles:`` of a data YAML or train config: square tiles of ``size`` original-image pixels,
    neighbours overlapping by ``overlap`` of a tile (SAHI's grid), a cut box kept when at least
    ``min_visibility`` of it is inside (SAHI's ``min_area_ratio``, 0.1), whole images added when
    ``whole_images``."""

    size: int | None = None
    overlap: float = 0.2
    min_visibility: float = 0.1
    whole_images: bool = False

    def __post_init__(self) -> None:
        if self.size is None:
            raise ConfigError("tiles needs size: the side of a square tile in original-image pixels "
                              "(for example tiles: {size: 640})")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ConfigError(f"tiles: size {self.size!r}: expected a whole number of pixels >= 1")
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, (int, float)) or not 0 <= self.overlap < 1:
            raise ConfigError(f"tiles: overlap {self.overlap!r}: expected a fraction of the tile in [0, 1)")
        if (isinstance(self.min_visibility, bool) or not isinstance(self.min_visibility, (int, float))
                or not 0 <= self.min_visibility <= 1):
            raise ConfigError(f"tiles: min_visibility {self.min_visibility!r}: expected the fraction of a box's "
                              f"area inside a tile in [0, 1]")
        if not isinstance(self.whole_images, bool):
            raise ConfigError(f"tiles: whole_images {self.whole_images!r}: expected true or false")

    def check(self, stride: int) -> TileSettings:
        """Refuse a tile smaller than the model's ``stride`` (one sentence); return self."""
        if self.size < stride:
            raise ConfigError(f"tiles: size {self.size}: a tile must be at least the model's stride of {stride} px")
        return self

    def tiled(self, width: int, height: int) -> bool:
        """Whether an image of this size is cut into tiles (larger than a tile on a side)."""
        return max(width, height) > self.size

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "overlap": self.overlap, "min_visibility": self.min_visibility,
                "whole_images": self.whole_images}


def parse_tiles(value: Any, where: str) -> TileSettings | None:
    """``tiles:`` as written in ``where`` (None: no tiles) -> :class:`TileSettings`; bad input is one
    sentence (:class:`ConfigError`)."""
    if value is None or isinstance(value, TileSettings):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: tiles: expected a mapping such as {{size: 640, overlap: 0.2}}, "
                          f"got {type(value).__name__} {value!r}")
    try:
        return from_mapping(TileSettings, value, f"{where}: tiles")
    except ConfigError as err:  # the record's own checks do not know where it was written
        if str(err).startswith(where):
            raise
        raise ConfigError(f"{where}: {err}") from None


@dataclass(frozen=True)
class TileItem:
    """One training item: image ``source`` (an index into the records) seen through ``window`` (None: the
    whole image), with its (n, 5) float32 [cls, cx, cy, w, h] labels normalised to what it shows."""

    source: int
    window: Window | None
    labels: np.ndarray

    @property
    def is_tile(self) -> bool:
        return self.window is not None


def clip_labels(labels: np.ndarray, width: int, height: int, window: Window, min_visibility: float) -> np.ndarray:
    """An image's (n, 5) [cls, cx, cy, w, h] labels (normalised to ``width`` x ``height``) as seen through
    ``window``: boxes clipped to it and normalised to its size, those with less than ``min_visibility`` of
    their area inside (or none) dropped."""
    lab = np.asarray(labels, np.float64).reshape(-1, 5)
    x0, y0, x1, y1 = window
    cx, cy, bw, bh = lab[:, 1] * width, lab[:, 2] * height, lab[:, 3] * width, lab[:, 4] * height
    bx1, by1, bx2, by2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
    ix1, iy1 = np.clip(bx1, x0, x1), np.clip(by1, y0, y1)
    ix2, iy2 = np.clip(bx2, x0, x1), np.clip(by2, y0, y1)
    inside = (ix2 - ix1) * (iy2 - iy1)
    area = bw * bh
    keep = (ix2 > ix1) & (iy2 > iy1) & (inside >= min_visibility * area * (1 - 1e-9))
    ww, wh = x1 - x0, y1 - y0
    out = np.stack([lab[:, 0], ((ix1 + ix2) / 2 - x0) / ww, ((iy1 + iy2) / 2 - y0) / wh,
                    (ix2 - ix1) / ww, (iy2 - iy1) / wh], 1)[keep]
    return out.astype(np.float32).reshape(-1, 5)


def tile_index(sizes: Sequence[tuple[int, int]], labels: Sequence[np.ndarray], tiles: TileSettings) -> list[TileItem]:
    """The items of images of ``sizes`` (width, height) with ``labels``: each tile of a larger image (row
    by row, as :func:`slice_grid` orders them), then its whole image when ``tiles.whole_images``; an image
    no larger than a tile is one whole-image item."""
    items: list[TileItem] = []
    for i, ((w, h), lab) in enumerate(zip(sizes, labels)):
        lab = np.asarray(lab, np.float32).reshape(-1, 5)
        if not tiles.tiled(w, h):
            items.append(TileItem(i, None, lab))
            continue
        for window in slice_grid(h, w, tiles.size, tiles.overlap).tolist():
            window = tuple(int(v) for v in window)
            items.append(TileItem(i, window, clip_labels(lab, w, h, window, tiles.min_visibility)))
        if tiles.whole_images:
            items.append(TileItem(i, None, lab))
    return items
