"""Uploads larger than the model's input decoded at reduced size, with what that costs in memory.

A JPEG is decoded at 1/2, 1/4 or 1/8 scale by its DCT (PIL ``draft``): a 7700 x 7700 photo never
exists at full size. Other formats are decoded whole (PNG has no reduced decode), then shrunk by an
integer factor (PIL ``reduce``) before the RGB conversion and the letterbox. Images below twice the
model size take the decoder of train and val unchanged. :func:`decode_cost` is the memory a decode may
take, known from the header alone, so the server can admit it or not before it starts.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from yololab.data.imaging.images import _SWAP_ORIENTATIONS, apply_orientation, exif_orientation
from yololab.data.imaging.pixels import PixelSpec
from yololab.deploy.runtime.images import (
    PHOTO_BYTES_PER_PIXEL,
    RAW_BYTES_PER_SAMPLE,
    RAW_MODE,
    ImageDecodeError,
    UploadHeader,
    decode_image_bytes,
)

#: bytes per pixel PIL holds for a decoded frame, by mode (RGB is stored as 4 bytes)
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 4, "I;16": 2, "RGB": 4, "RGBA": 4, "CMYK": 4, "YCbCr": 4, "I": 4,
              "F": 4}
FULL_PATH_BYTES = 8  # per pixel on the unreduced path: OpenCV's RGB frame + an oriented copy, rounded up
JPEG_SCALES = (8, 4, 2)
MIN_SHORT_SIDE = 10  # the smallest side an upload may have (deploy.runtime.images.MIN_SIDE)


@dataclass(frozen=True)
class DecodedUpload:
    """A decoded upload: ``image`` (RGB uint8, maybe reduced) and the factors from its pixels to the
    original's, displayed (EXIF-oriented) ``width`` x ``height``."""

    image: np.ndarray
    scale_x: float
    scale_y: float
    width: int
    height: int


def reduction(header: UploadHeader, target: int) -> int:
    """The integer factor an image may shrink by and still be at least ``target`` on its long side."""
    return max(1, max(header.width, header.height) // max(1, target))


def _jpeg_scale(factor: int) -> int:
    return next((s for s in JPEG_SCALES if s <= factor), 1)


def decode_cost(header: UploadHeader, target: int, full: bool = False) -> int:
    """Bytes of memory decoding ``header``'s image for a ``target``-pixel model may take at its peak
    (``full``: decoded at full size, as for a model whose pixels are not 8-bit RGB)."""
    pixels = header.width * header.height
    if header.mode == RAW_MODE:
        return pixels * header.channels * RAW_BYTES_PER_SAMPLE
    factor = reduction(header, target)
    if factor < 2 or full:
        return pixels * FULL_PATH_BYTES
    if header.format in ("JPEG", "MPO"):
        return math.ceil(pixels / _jpeg_scale(factor) ** 2) * 8  # the draft frame + its reduced RGB copy
    convert = 0 if header.mode in ("L", "RGB", "RGBA", "I", "F") else 4  # a full-size converted copy first
    return pixels * (MODE_BYTES.get(header.mode, 4) + convert) + (pixels // factor**2) * 8


def worst_decode_cost(max_pixels: int, target: int) -> int:
    """The most one upload of at most ``max_pixels`` may cost (any format, mode or shape)."""
    side = int(math.isqrt(max_pixels))
    shapes = [(side, side), (max_pixels // MIN_SHORT_SIDE, MIN_SHORT_SIDE), (2 * target - 1, 2 * target - 1)]
    return max(decode_cost(UploadHeader(fmt, mode, w, h), target) for w, h in shapes if w * h <= max_pixels
               for fmt in ("PNG", "JPEG") for mode in ("1", "P", "RGB", "CMYK"))


def decode_reduced(data: bytes, header: UploadHeader, target: int, pixels: PixelSpec | None = None) -> DecodedUpload:
    """Decode ``data`` (already checked by :func:`~yololab.deploy.runtime.images.inspect_upload`) at the smallest
    size that still fills a ``target`` model input; raises :class:`ImageDecodeError` (422). Raw uploads
    (DICOM, 16-bit, multi-band) and every upload to a model whose ``pixels`` are not the default go
    through the one decoder at full size."""
    factor = reduction(header, target)
    raw = header.mode == RAW_MODE or (pixels is not None and not pixels.is_default)
    if factor < 2 or header.format == "TIFF" or raw:  # TIFF: PIL orients on load; keep the one decoder
        area = header.width * header.height  # the limits that inspect_upload checked, again
        limit = max(area, -(-area * header.channels * RAW_BYTES_PER_SAMPLE // PHOTO_BYTES_PER_PIXEL)) \
            if header.mode == RAW_MODE else area
        image = decode_image_bytes(data, limit, pixels)
        return DecodedUpload(image, 1.0, 1.0, image.shape[1], image.shape[0])
    try:
        with Image.open(io.BytesIO(data)) as im:
            orientation = exif_orientation(im)
            if header.format in ("JPEG", "MPO"):
                im.draft("RGB", (math.ceil(header.width / factor), math.ceil(header.height / factor)))
            im.load()
            if im.mode not in ("L", "RGB", "RGBA", "I", "F"):
                im = im.convert("RGBA" if "A" in im.mode or im.mode == "P" else "L")
            rest = max(1, max(im.size) // target)
            if rest >= 2:
                im = im.reduce(rest)
            rgb = np.asarray(im.convert("RGB"))
    except Exception as err:  # PIL raises many types for damaged files
        raise ImageDecodeError(422, f"corrupt image: {type(err).__name__}: {err}") from None
    rgb = apply_orientation(np.ascontiguousarray(rgb), orientation)
    w, h = (header.height, header.width) if orientation in _SWAP_ORIENTATIONS else (header.width, header.height)
    return DecodedUpload(rgb, w / rgb.shape[1], h / rgb.shape[0], w, h)
