"""Deploy-time image handling: decode files or uploaded bytes, letterbox, normalise to NCHW."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from yololab.data.augment import letterbox
from yololab.data.imaging import rawpixels
from yololab.data.imaging.images import decode_image, read_image
from yololab.data.imaging.pixels import PixelSpec, convert_image, normalize_array
from yololab.errors import DataError

MIN_SIDE = 10  # pixels; smaller images are rejected (as the dataset checks do)
MAX_PIXELS = 60_000_000  # decompression-bomb guard for uploads
#: :attr:`UploadHeader.mode` of uploads decoded at their own depth: DICOM, 16-bit PNG, 16-bit or multi-band TIFF
RAW_MODE = "raw"
#: peak bytes per sample decoding a raw upload (a DICOM: stored samples, float64 rescaled, float32 out)
RAW_BYTES_PER_SAMPLE = 16
#: what the largest 8-bit upload (``max_pixels``) may cost per pixel; a raw upload must fit the same bytes
PHOTO_BYTES_PER_PIXEL = 8


class ImageDecodeError(DataError):
    """An upload that is not a usable image; ``status`` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class LetterboxInfo:
    """How one original image was mapped into the network input."""

    shape: tuple[int, int]  # original (height, width)
    ratio_pad: tuple[tuple[float, float], tuple[float, float]]  # ((gain, gain), (pad_w, pad_h))


def load_image(path: str | os.PathLike, pixels: PixelSpec | None = None) -> np.ndarray:
    """An image file as decoded for ``pixels`` (RGB uint8 (H, W, 3) for photos), EXIF orientation applied."""
    return read_image(path, pixels)


_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF",
          b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def _magic(data: bytes) -> str | None:
    """The image format a file's first bytes announce, if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for sig, kind in _MAGIC.items() if data.startswith(sig)), None)


def _jpeg_complete(data: bytes) -> bool:
    return data[-1024:].rstrip(b"\x00 \r\n\t").endswith(b"\xff\xd9")


@dataclass(frozen=True)
class UploadHeader:
    """What an upload's header says, read without decoding its pixels."""

    format: str  # PIL's name: JPEG, PNG, ...
    mode: str  # PIL's pixel mode: 1, L, P, RGB, RGBA, ...
    width: int  # as stored (before EXIF orientation)
    height: int
    channels: int = 3  # samples per pixel of a raw upload (RAW_MODE)


SNIFF_BYTES = 1 << 16  # an upload's first bytes: enough for any supported format's header


def sniff_upload(head: bytes) -> None:
    """Refuse an upload from its first :data:`SNIFF_BYTES` alone, before the rest is read into memory: 400
    when empty, 415 when no supported format is recognised (:class:`ImageDecodeError`)."""
    if not head:
        raise ImageDecodeError(400, "empty upload: the file has no bytes")
    if _magic(head) or rawpixels.is_dicom(head[:rawpixels.SNIFF_BYTES]):
        return
    try:
        with Image.open(io.BytesIO(head)):
            return
    except UnidentifiedImageError:
        raise ImageDecodeError(415, "not a supported image (could not identify an image format)") from None
    except Exception:  # noqa: BLE001 - a header cut by the prefix: inspect_upload decides on the whole file
        return


def inspect_upload(data: bytes, max_pixels: int = MAX_PIXELS) -> UploadHeader:
    """Check an upload without decoding it (format, size limits, JPEG completeness); raises
    :class:`ImageDecodeError` (400/415/422)."""
    if not data:
        raise ImageDecodeError(400, "empty upload: the file has no bytes")
    raw = _raw_upload(data)
    if raw is not None and raw.format != "PNG":  # DICOM, or a TIFF that PIL cannot verify
        return _check_raw(raw, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = (im.format or "").upper()
            w, h = im.size
            mode = im.mode
            im.verify()
    except UnidentifiedImageError:
        kind = _magic(data)
        if kind:  # looks like an image, but its structure is broken
            raise ImageDecodeError(422, f"corrupt {kind} image: it could not be parsed") from None
        raise ImageDecodeError(415, "not a supported image (could not identify an image format)") from None
    except Exception as err:  # PIL raises many types for damaged files
        raise ImageDecodeError(422, f"corrupt image: {type(err).__name__}: {err}") from None
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ImageDecodeError(422, f"image is {w}x{h} pixels; both sides must be at least {MIN_SIDE}")
    if w * h > max_pixels:
        raise ImageDecodeError(422, f"image is {w}x{h} pixels, above the limit of {max_pixels} pixels")
    if fmt in ("JPEG", "MPO") and not _jpeg_complete(data):
        try:  # trailing junk after EOI is fine; a missing tail is not (decoded at 1/8 scale: cheap)
            with Image.open(io.BytesIO(data)) as im:
                im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
                im.load()
        except Exception as err:
            raise ImageDecodeError(422, f"truncated JPEG: {err}") from None
    if raw is not None:  # a 16-bit PNG: verified by PIL, decoded at its depth
        return _check_raw(raw, max_pixels)
    return UploadHeader(fmt, mode, w, h)


def _raw_upload(data: bytes) -> UploadHeader | None:
    """The header of an upload decoded at its own depth (DICOM, 16-bit PNG, a TIFF that is not 8-bit
    grey or RGB), else None; a damaged one is a 422."""
    head = data[:rawpixels.SNIFF_BYTES]
    png = rawpixels.png_depth(head)
    if png is not None:
        if png[1] != 16 or len(data) < 24:
            return None
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return UploadHeader("PNG", RAW_MODE, w, h, png[0])
    if not (rawpixels.is_dicom(head) or rawpixels.is_tiff(head)):
        return None
    kind = "DICOM" if rawpixels.is_dicom(head) else "TIFF"
    try:
        info = (rawpixels.dicom_info if kind == "DICOM" else rawpixels.tiff_info)(io.BytesIO(data), f"the {kind} data")
    except DataError as err:
        raise ImageDecodeError(422, str(err)) from None
    except Exception as err:  # noqa: BLE001 - the readers raise many types for damaged files
        raise ImageDecodeError(422, f"corrupt {kind} image: {type(err).__name__}: {err}") from None
    if kind == "TIFF" and rawpixels.pil_reads(info):
        return None
    return UploadHeader(kind, RAW_MODE, info.width, info.height, info.channels)


def _check_raw(header: UploadHeader, max_pixels: int) -> UploadHeader:
    """The size limits of a raw upload: ``max_pixels``, and no more decoding memory than the largest
    8-bit upload (``max_pixels`` x :data:`PHOTO_BYTES_PER_PIXEL`)."""
    w, h, c = header.width, header.height, header.channels
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ImageDecodeError(422, f"image is {w}x{h} pixels; both sides must be at least {MIN_SIDE}")
    if w * h > max_pixels:
        raise ImageDecodeError(422, f"image is {w}x{h} pixels, above the limit of {max_pixels} pixels")
    if w * h * c * RAW_BYTES_PER_SAMPLE > max_pixels * PHOTO_BYTES_PER_PIXEL:
        limit = max_pixels * PHOTO_BYTES_PER_PIXEL // (RAW_BYTES_PER_SAMPLE * c)
        raise ImageDecodeError(422, f"{header.format} image is {w}x{h} pixels of {c} channel(s), above the limit "
                               f"of {limit} pixels for {c}-channel {header.format} uploads")
    return header


def decode_image_bytes(data: bytes, max_pixels: int = MAX_PIXELS, pixels: PixelSpec | None = None) -> np.ndarray:
    """An encoded image decoded for ``pixels`` (RGB uint8 (H, W, 3) for photos of a 3-channel model);
    raises :class:`ImageDecodeError` (400/415/422, also for an image with another channel count)."""
    header = inspect_upload(data, max_pixels)
    try:  # the decoder of train and val
        return decode_image(data, f"the {header.format or 'image'} data", None if pixels is None or pixels.is_default
                            else pixels)
    except (OSError, DataError) as err:
        raise ImageDecodeError(422, str(err)) from None


def preprocess(images: Sequence[np.ndarray], imgsz: int | tuple[int, int], stride: int = 32,
               dtype: np.dtype = np.float32, pixels: PixelSpec | None = None) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """Letterbox (H, W, C) images to ``imgsz`` (no auto-shrink, so batches share one shape) and normalise
    them as train and val do (:func:`~yololab.data.imaging.pixels.normalize_batch` of ``pixels``; [0, 1] for
    8-bit photos) to a contiguous (B, C, H, W) array of ``dtype``."""
    hw = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz)
    if len({im.dtype for im in images}) > 1:  # mixed sample types: float32 with the same [0, 1] values
        images = [convert_image(im, np.float32) for im in images]
    counts = {1 if im.ndim == 2 else im.shape[2] for im in images}
    if len(counts) > 1:
        raise DataError(f"one batch holds images with {sorted(counts)} channels; give images of one channel count")
    raw = np.empty((len(images), counts.pop(), *hw), dtype=images[0].dtype)
    infos = []
    for i, im in enumerate(images):
        boxed, ratio, pad = letterbox(im, hw, auto=False, stride=stride)
        raw[i] = boxed.reshape(*hw, -1).transpose(2, 0, 1)
        infos.append(LetterboxInfo(shape=im.shape[:2], ratio_pad=((ratio[1], ratio[0]), pad)))
    batch = normalize_array(raw, pixels)
    return np.ascontiguousarray(batch.astype(dtype, copy=False)), infos
