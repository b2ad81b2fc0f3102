"""Image decoding (OpenCV, EXIF orientation applied) and cheap header checks."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

#: EXIF orientations that swap width and height (transpose / rotate 90 / transverse / rotate 270).
_SWAP_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
_READ_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)
MIN_SIZE = 10  # images smaller than this (either side) are rejected, as upstream does


class ImageCheckError(Exception):
    """An image that cannot be used; ``kind`` is 'corrupt_image' or 'truncated_image'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation tag of an opened PIL image (1 when absent or unreadable)."""
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # malformed EXIF blocks are common in the wild; treat as upright
        return 1


def _jpeg_is_complete(path: Path) -> bool:
    """True if the JPEG ends with the EOI marker (ignoring trailing NUL/whitespace padding)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        n = f.tell()
        f.seek(max(0, n - 1024))
        tail = f.read().rstrip(b"\x00 \r\n\t")
    return tail.endswith(b"\xff\xd9")


def check_image(path: str | os.PathLike) -> tuple[int, int]:
    """Validate an image file without a full decode; returns its displayed (width, height) after EXIF orientation.

    Raises :class:`ImageCheckError` for unreadable, too small or truncated files. A JPEG without its end
    marker is fully decoded once: if that fails it is truncated, otherwise (trailing data) it is accepted.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.verify()  # must come first: PIL refuses to verify once other data was read
        with Image.open(path) as im:
            fmt = (im.format or "").lower()
            w, h = im.size
            orientation = exif_orientation(im)
    except Exception as e:
        msg = str(e).replace(f"'{path}'", "").replace(str(path), "").strip()
        raise ImageCheckError("corrupt_image", f"unreadable: {type(e).__name__} {msg}".strip()) from e
    if orientation in _SWAP_ORIENTATIONS:
        w, h = h, w
    if w < MIN_SIZE or h < MIN_SIZE:
        raise ImageCheckError("corrupt_image", f"image size {w}x{h} is below {MIN_SIZE} pixels")
    if fmt in ("jpeg", "mpo") and not _jpeg_is_complete(path):
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as e:
            raise ImageCheckError("truncated_image", f"truncated JPEG: {e}") from e
    return w, h


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image to an RGB uint8 array (H, W, 3) with its EXIF orientation applied.

    OpenCV is used (it applies EXIF orientation itself); PIL is the fallback for files OpenCV cannot read.
    """
    path = str(path)
    if _READ_RGB is not None:
        im = cv2.imread(path, _READ_RGB)
    else:
        im = cv2.imread(path, cv2.IMREAD_COLOR)
        if im is not None:
            im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
    if im is not None:
        return im
    try:
        with Image.open(path) as pim:
            return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(pim).convert("RGB")))
    except Exception as e:
        raise OSError(f"cannot decode image {path}: {e}") from e
