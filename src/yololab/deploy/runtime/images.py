"""Deploy-time image handling: decode files or uploaded bytes, letterbox, normalise to NCHW."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from yololab.data.augment import letterbox
from yololab.data.images import decode_image, read_image
from yololab.errors import DataError

MIN_SIDE = 10  # pixels; smaller images are rejected (as the dataset checks do)
MAX_PIXELS = 60_000_000  # decompression-bomb guard for uploads


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


def load_image(path: str | os.PathLike) -> np.ndarray:
    """RGB uint8 (H, W, 3) of an image file, EXIF orientation applied."""
    return read_image(path)


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


SNIFF_BYTES = 1 << 16  # an upload's first bytes: enough for any supported format's header


def sniff_upload(head: bytes) -> None:
    """Refuse an upload from its first :data:`SNIFF_BYTES` alone, before the rest is read into memory: 400
    when empty, 415 when no supported format is recognised (:class:`ImageDecodeError`)."""
    if not head:
        raise ImageDecodeError(400, "empty upload: the file has no bytes")
    if _magic(head):
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
    return UploadHeader(fmt, mode, w, h)


def decode_image_bytes(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """RGB uint8 (H, W, 3) of an encoded image; raises :class:`ImageDecodeError` (400/415/422)."""
    header = inspect_upload(data, max_pixels)
    try:
        return decode_image(data, f"the {header.format or 'image'} data")  # the decoder of train and val
    except OSError as err:
        raise ImageDecodeError(422, str(err)) from None


def preprocess(images: Sequence[np.ndarray], imgsz: int | tuple[int, int], stride: int = 32,
               dtype: np.dtype = np.float32) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """Letterbox uint8 images (H, W, C) or (H, W) to ``imgsz`` (no auto-shrink, so batches share one
    shape) and normalise to a contiguous (B, C, H, W) array in [0, 1]; C is the images' channel count
    (3 for RGB), the same for every image of the batch."""
    hw = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz)
    counts = {1 if im.ndim == 2 else im.shape[2] for im in images}
    if len(counts) > 1:
        raise DataError(f"one batch holds images with {sorted(counts)} channels; give images of one channel count")
    batch = np.empty((len(images), counts.pop() if counts else 3, *hw), dtype=dtype)
    infos = []
    for i, im in enumerate(images):
        boxed, ratio, pad = letterbox(im, hw, auto=False, stride=stride)
        batch[i] = boxed.reshape(*hw, -1).transpose(2, 0, 1)  # cv2 drops a single channel's axis
        infos.append(LetterboxInfo(shape=im.shape[:2], ratio_pad=((ratio[1], ratio[0]), pad)))
    batch *= batch.dtype.type(1.0 / 255.0)
    return batch, infos
