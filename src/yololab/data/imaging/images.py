"""Image decoding (one path for files and bytes, EXIF orientation applied the same way for every format)
and cheap header checks.

8-bit photos decode to RGB uint8 (H, W, 3) as they always have. Other pixels are kept as they are stored
(:mod:`yololab.data.imaging.rawpixels`): 16-bit PNG/TIFF as uint16, multi-band TIFF as (H, W, N), DICOM as float32;
a :class:`~yololab.data.imaging.pixels.PixelSpec` says how many channels the data set has."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from yololab.data.imaging import rawpixels
from yololab.data.imaging.orientation import SWAP_ORIENTATIONS as _SWAP_ORIENTATIONS
from yololab.data.imaging.orientation import apply_orientation, exif_orientation
from yololab.data.imaging.pixels import PixelSpec
from yololab.errors import DataError

#: EXIF orientations that swap width and height (transpose / rotate 90 / transverse / rotate 270).
_READ_FLAGS = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
MIN_SIZE = 10  # images smaller than this (either side) are rejected, as upstream does


class ImageCheckError(DataError):
    """An image that cannot be used; ``kind`` is 'corrupt_image' or 'truncated_image'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as stored, before EXIF orientation (Pillow reports TIFFs already oriented)."""
    tags = getattr(im, "tag_v2", None)
    if (im.format or "").upper() == "TIFF" and tags is not None and 256 in tags and 257 in tags:
        return int(tags[256]), int(tags[257])
    return im.size


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
    info = check_image_info(path)
    return info.width, info.height


def check_image_info(path: str | os.PathLike) -> rawpixels.ImageInfo:
    """:func:`check_image` with the channel count and bit depth read from the header: DICOM through
    pydicom and TIFF through tifffile (their headers only), other formats as PIL opens them."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(rawpixels.SNIFF_BYTES)
    except OSError as e:
        raise ImageCheckError("corrupt_image", f"unreadable: {type(e).__name__} {e.strerror or ''}".strip()) from e
    raw = None  # DICOM and TIFF: their own readers' header (PIL cannot verify 16-bit multi-band TIFF or DICOM)
    if rawpixels.is_dicom(head) or rawpixels.is_tiff(head):
        try:
            raw = rawpixels.dicom_info(path) if rawpixels.is_dicom(head) else rawpixels.tiff_info(path)
        except Exception as e:
            msg = str(e).replace(f"'{path}'", "").replace(str(path), "").strip()
            raise ImageCheckError("corrupt_image", f"unreadable: {type(e).__name__} {msg}".strip()) from e
        if raw.width < MIN_SIZE or raw.height < MIN_SIZE:
            raise ImageCheckError("corrupt_image", f"image size {raw.width}x{raw.height} is below {MIN_SIZE} pixels")
        if rawpixels.is_dicom(head) or not rawpixels.pil_reads(raw):
            return raw
    info = _check_with_pil(path, head)
    return info if raw is None else rawpixels.ImageInfo(info.width, info.height, raw.channels, raw.bits, raw.dtype)


def _check_with_pil(path: Path, head: bytes) -> rawpixels.ImageInfo:
    """:func:`check_image_info` of the formats PIL verifies."""
    try:
        with Image.open(path) as im:
            im.verify()  # must come first: PIL refuses to verify once other data was read
        with Image.open(path) as im:
            fmt = (im.format or "").lower()
            w, h = _stored_size(im)
            orientation = exif_orientation(im)
            channels, bits = rawpixels.pil_depth(im, head)
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
    return rawpixels.ImageInfo(w, h, channels, bits, "uint16" if bits == 16 else "uint8")


def decode_image(data: bytes, name: str = "image", pixels: PixelSpec | None = None) -> np.ndarray:
    """Decode encoded image bytes to (H, W, C) as displayed: the one decoder of train, val, predict and
    serve. 8-bit photos of a 3-channel data set (``pixels`` None or 3 channels) are RGB uint8, grey
    ones replicated to 3 channels; 16-bit PNGs stay uint16 (grey ones replicated in a 3-channel data set);
    16-bit or multi-band TIFFs and DICOM files, and every image of a data set with another channel
    count, go through :func:`yololab.data.imaging.rawpixels.decode_raw`, which keeps what is stored and refuses
    an image whose channel count is not the data set's (:class:`DataError` naming it).

    OpenCV decodes with its own orientation handling switched off (it differs between formats and
    between imread and imdecode); the EXIF orientation is read by PIL, as :func:`check_image` does, and
    applied here. TIFF is decoded by PIL, which applies the orientation tag itself on load (OpenCV's TIFF
    reader does for some encodings and not for others). PIL also decodes what OpenCV cannot. ``name``
    appears in errors.
    """
    spec = pixels or PixelSpec()
    kind = rawpixels.raw_kind(data, spec.channels)
    if kind is not None:
        return rawpixels.decode_raw(data, name, spec, kind)
    try:
        with Image.open(io.BytesIO(data)) as pim:
            fmt = (pim.format or "").upper()
            orientation = exif_orientation(pim)
            if fmt == "TIFF":  # Pillow's load() applies the tag and drops it; apply what is left, if any
                rgb = np.asarray(pim.convert("RGB"))
                return apply_orientation(np.ascontiguousarray(rgb), exif_orientation(pim))
    except Exception as e:  # a format PIL does not know may still be one OpenCV reads
        orientation, pil_error = 1, e
    else:
        pil_error = None
    im = cv2.imdecode(np.frombuffer(data, np.uint8), _READ_FLAGS)
    if im is None:
        if pil_error is not None:
            raise OSError(f"cannot decode {name}: {type(pil_error).__name__}: {pil_error}") from pil_error
        try:
            with Image.open(io.BytesIO(data)) as pim:
                im = np.asarray(pim.convert("RGB"))
        except Exception as e:
            raise OSError(f"cannot decode {name}: {type(e).__name__}: {e}") from e
    elif not hasattr(cv2, "IMREAD_COLOR_RGB"):  # pragma: no cover - OpenCV < 4.12
        im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
    return apply_orientation(im, orientation)


def read_image(path: str | os.PathLike, pixels: PixelSpec | None = None) -> np.ndarray:
    """Decode an image file (:func:`decode_image`; RGB uint8 (H, W, 3) for 8-bit photos) with its EXIF
    orientation applied."""
    try:
        data = Path(path).read_bytes()
        return decode_image(data, str(path), pixels)
    except (OSError, DataError):
        raise
    except Exception as e:  # PIL raises many types for files it cannot identify
        raise OSError(f"cannot decode image {path}: {type(e).__name__}: {e}") from e
