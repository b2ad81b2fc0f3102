"""JPEG decoding at reduced size in the DCT domain (libjpeg-turbo's 1/2, 1/4 and 1/8 scaling), for the
training mosaic: an image whose long side is at least twice what a tile needs is decoded smaller instead
of decoded whole and resized.

The decoder is ``simplejpeg`` (libjpeg-turbo in its wheel) when installed, else OpenCV's
``IMREAD_REDUCED_COLOR_*`` (also libjpeg-turbo); both give the pixels of :func:`decode_image` at full size
(checked on coco128 in tests/test_image_decoding.py). The EXIF orientation is read and applied as
:func:`decode_image` does. Anything that is not a plain JPEG, or that these decoders refuse (CMYK, a
truncated stream), goes through :func:`decode_image`.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from yololab.data.imaging.images import apply_orientation, decode_image, exif_orientation

try:  # optional: a faster JPEG decoder; OpenCV's is used without it
    import simplejpeg
except ImportError:  # pragma: no cover - depends on the environment
    simplejpeg = None

FACTORS = (8, 4, 2)  # DCT-domain reductions, largest first
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_SOI = b"\xff\xd8"


def dct_factor(long_side: int, min_long: int) -> int:
    """The largest reduction in (8, 4, 2) that keeps the long side at least ``min_long``, else 1."""
    for f in FACTORS:
        if math.ceil(long_side / f) >= min_long:
            return f
    return 1


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _scan_markers(data: bytes) -> tuple[int, int, bool] | None:
    """(stored height, width, whether an Exif APP1 segment is present) from the segments before the first
    scan, or None when they cannot be walked."""
    i, n, exif = 2, len(data), False
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xE1 and data[i + 4:i + 10] == b"Exif\0\0":
            exif = True
        elif marker in _SOF and i + 9 <= n:
            return int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big"), exif
        elif marker == 0xDA:
            return None
        i += 2 + length
    return None


def _header(data: bytes) -> tuple[int, int, int]:
    """(stored height, stored width, EXIF orientation) of a JPEG from its header alone (PIL reads the
    orientation, as :func:`check_image` does, only where an Exif segment exists)."""
    found = _scan_markers(data)
    if found is not None and not found[2]:
        return found[0], found[1], 1
    with Image.open(io.BytesIO(data)) as pim:
        w, h = pim.size
        return h, w, exif_orientation(pim)


def _decode(data: bytes, h: int, w: int, factor: int) -> np.ndarray | None:
    """RGB decode at 1/``factor`` (stored orientation), or None when the fast decoders refuse it."""
    if simplejpeg is not None:
        try:
            return simplejpeg.decode_jpeg(data, colorspace="rgb", min_height=math.ceil(h / factor),
                                          min_width=math.ceil(w / factor))
        except ValueError:
            return None
    flags = _REDUCED_FLAGS.get(factor, cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    im = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    return None if im is None else cv2.cvtColor(im, cv2.COLOR_BGR2RGB)


def read_image_scaled(path: str | os.PathLike, min_long: int) -> np.ndarray:
    """Decode an image as displayed (RGB uint8, EXIF orientation applied), reduced in the DCT domain by the
    largest factor in (8, 4, 2) that keeps its long side at least ``min_long`` when it is a JPEG (full size
    otherwise, and for every other format)."""
    data = Path(path).read_bytes()
    if not data.startswith(_SOI):
        return decode_image(data, str(path))
    try:
        h, w, orientation = _header(data)
    except Exception:  # let the one decoder report what is wrong with it
        return decode_image(data, str(path))
    factor = dct_factor(max(h, w), min_long)  # the long side does not depend on the orientation
    im = _decode(data, h, w, factor)
    if im is None or im.ndim != 3 or im.shape[2] != 3:
        return decode_image(data, str(path))
    return apply_orientation(im, orientation)
