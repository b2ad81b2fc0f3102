"""``TiledDataset``: tiled training on the fly. Large images are cut into tiles when they are loaded (no
tile files are written): one item per (image, tile window) of :func:`yololab.data.tiling.tiles.tile_index`, each
a crop of its image's one cached frame, then letterboxed, mosaicked and augmented as any image.

The cache (:mod:`yololab.data.imcache`) holds each image once: a large image at tile scale, so that a tile
of ``size`` original pixels is ``img_size`` pixels (never enlarged: when tiles are smaller than
``img_size`` the frame is the image itself and each crop is scaled up); an image no larger than a tile as
without tiles. Whole-image items of large images (``whole_images``) are their frame resized to ``img_size``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from yololab.data import imcache
from yololab.data.dataset import DetectionDataset
from yololab.data.records import ImageRecord
from yololab.data.tiling.tiles import TileItem, TileSettings, tile_index


class TiledDataset(DetectionDataset):
    """:class:`DetectionDataset` over the tiles of ``records`` (``self.records``: the images, one cache
    entry each; ``self.items``: what is trained on). Not for ``rect`` (val scores whole images sliced)."""

    def __init__(self, records: Sequence[ImageRecord], tiles: TileSettings, img_size: int = 640, **kwargs):
        if kwargs.get("rect"):
            raise ValueError("a tiled dataset is for training: rect batches do not apply to tiles")
        self.tiles = tiles.check(kwargs.get("stride", 32))
        self.scale = min(1.0, img_size / tiles.size)  # a large image's frame: original pixels -> frame pixels
        super().__init__(records, img_size, **kwargs)
        self.items: list[TileItem] = tile_index([(r.width, r.height) for r in self.records],
                                                [r.labels for r in self.records], tiles)
        self.labels = [item.labels for item in self.items]
        self.im_files = [self.records[item.source].path for item in self.items]
        self.shapes = np.array([[w, h] for h, w in (self._original_hw(item) for item in self.items)])

    def __len__(self) -> int:
        return len(self.items)

    # ------------------------------------------------------------------ the images' frames (one per image)
    def _large(self, i: int) -> bool:
        return self.tiles.tiled(self.records[i].width, self.records[i].height)

    def _entry_shape(self, i: int) -> tuple[int, int, int]:
        rec = self.records[i]
        if not self._large(i):
            return super()._entry_shape(i)
        channels = self.pixels.channels
        if self.scale == 1:
            return rec.height, rec.width, channels
        return math.ceil(rec.height * self.scale), math.ceil(rec.width * self.scale), channels

    def _npy_path(self, i: int):
        if not self._large(i):  # the same entry as training without tiles
            return super()._npy_path(i)
        h, w, _ = self._entry_shape(i)
        return imcache.npy_path(self.records[i].path, self.img_size, imcache.cv2_interpolation(self.augment),
                                self.pixels, variant=f"tiles-frame-{h}x{w}")

    def _frame(self, i: int) -> np.ndarray:
        """Image ``i``'s frame, read-only: the RAM copy, the memory-mapped entry (a crop reads only its
        pages), or decoded."""
        cached = self._cache[i]
        if cached is not None:
            return cached[0]
        if self._npy is not None:
            im = imcache.load_npy(self._npy[i], self._entry_shape(i), mmap=True, redo=lambda: self._read_resized(i)[0],
                                  dtype=self._entry_dtype(i))
            if im is not None:
                return im
        return self._read_resized(i)[0]

    # ------------------------------------------------------------------ items
    def _original_hw(self, item: TileItem) -> tuple[int, int]:
        """(h, w) of what ``item`` shows, in original-image pixels."""
        if item.window is None:
            rec = self.records[item.source]
            return rec.height, rec.width
        x0, y0, x1, y1 = item.window
        return y1 - y0, x1 - x0

    def _crop_box(self, item: TileItem) -> tuple[int, int, int, int]:
        """``item``'s window in its frame's pixels."""
        x0, y0, x1, y1 = (round(v * self.scale) for v in item.window)
        h, w = self._entry_shape(item.source)[:2]
        return min(x0, w - 1), min(y0, h - 1), max(min(x1, w), x0 + 1), max(min(y1, h), y0 + 1)

    def _item_hw(self, item: TileItem) -> tuple[int, int]:
        """(h, w) of ``item`` as :meth:`load_image` returns it: a tile of ``size`` becomes ``img_size``."""
        if item.window is None:
            if not self._large(item.source):
                return self._entry_shape(item.source)[:2]
            rec = self.records[item.source]
            return imcache.resized_hw(rec.width, rec.height, self.img_size)
        if self.scale < 1:
            x0, y0, x1, y1 = self._crop_box(item)
            return y1 - y0, x1 - x0
        f = self.img_size / self.tiles.size
        h, w = self._original_hw(item)
        return max(1, round(h * f)), max(1, round(w * f))

    def _view(self, item: TileItem) -> np.ndarray:
        """What ``item`` shows of its frame (read-only, at frame scale)."""
        frame = self._frame(item.source)
        if item.window is None:
            return frame
        x0, y0, x1, y1 = self._crop_box(item)
        return frame[y0:y1, x0:x1]

    def load_image(self, index: int, copy: bool = True) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """Item ``index`` (RGB) at training scale -> (image, (h0, w0) of what it shows, (h, w))."""
        item = self.items[index]
        view, (h, w) = self._view(item), self._item_hw(item)
        if view.shape[:2] != (h, w):
            interp = cv2.INTER_LINEAR if (self.augment or h > view.shape[0]) else cv2.INTER_AREA
            im = cv2.resize(np.ascontiguousarray(view), (w, h), interpolation=interp)
        else:
            im = np.array(view) if copy else view
        return im, self._original_hw(item), (h, w)

    def _frame_hw(self, index: int) -> tuple[int, int]:
        return self._item_hw(self.items[index])

    def _mosaic_source(self, index: int, min_long: int) -> np.ndarray:
        item = self.items[index]
        if item.window is None and not self._large(item.source):
            return super()._mosaic_source(item.source, min_long)
        return self._view(item)
