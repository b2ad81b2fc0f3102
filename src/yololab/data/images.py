"""Image decoding (one path for files and bytes, EXIF orientation applied the same way for every format)
and cheap header checks."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from yololab.errors import DataError

#: EXIF orientations that swap width and height (transpose / rotate 90 / transverse / rotate 270).
_SWAP_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
_READ_FLAGS = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
MIN_SIZE = 10  # images smaller than this (either side) are rejected, as upstream does


class ImageCheckError(DataError):
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
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.verify()  # must come first: PIL refuses to verify once other data was read
        with Image.open(path) as im:
            fmt = (im.format or "").lower()
            w, h = _stored_size(im)
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


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes to RGB uint8 (H, W, 3) as displayed: the one decoder of train, val,
    predict and serve.

    OpenCV decodes with its own orientation handling switched off (it differs between formats and
    between imread and imdecode); the EXIF orientation is read by PIL, as :func:`check_image` does, and
    applied here. TIFF is decoded by PIL, which applies the orientation tag itself on load (OpenCV's TIFF
    reader does for some encodings and not for others). PIL also decodes what OpenCV cannot. ``name``
    appears in errors.
    """
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


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to an RGB uint8 array (H, W, 3) with its EXIF orientation applied."""
    try:
        data = Path(path).read_bytes()
        return decode_image(data, str(path))
    except OSError:
        raise
    except Exception as e:  # PIL raises many types for files it cannot identify
        raise OSError(f"cannot decode image {path}: {type(e).__name__}: {e}") from e
