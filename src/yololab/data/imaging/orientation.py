"""EXIF orientation: read from a PIL image and applied to an array, the same way for every decoder."""

from __future__ import annotations

import numpy as np
from PIL import Image

#: EXIF orientations that swap width and height (transpose / rotate 90 / transverse / rotate 270).
SWAP_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION = 0x0112


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation tag of an opened PIL image (1 when absent or unreadable)."""
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # malformed EXIF blocks are common in the wild; treat as upright
        return 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` (H, W, ...) as displayed under EXIF ``orientation`` 1..8 (what PIL's exif_transpose does)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: a.swapaxes(0, 1)[:, ::-1],
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: a.swapaxes(0, 1)[::-1],
    }
    op = ops.get(int(orientation))
    return image if op is None else np.ascontiguousarray(op(image))
