"""Images that are not 8-bit photos, decoded without truncation: 16-bit PNG (OpenCV, any depth), 16-bit
and multi-band TIFF/GeoTIFF (tifffile; planar or interleaved -> (H, W, N)), DICOM (pydicom: rescale,
window, MONOCHROME1), and any image of a data set whose channel count is not 3; plus their cheap header
checks (:func:`tiff_info`, :func:`dicom_info`).

Kept dtypes: uint8, uint16 and float32 (float64 TIFFs become float32); other integer TIFFs are refused.
DICOM decodes to float32: windowed to [0, 1] (the data YAML's ``window``, else the file's first
WindowCenter/WindowWidth, else the full range its stored bits can hold, through the rescale), MONOCHROME1
inverted; with ``normalize: window`` the rescaled values themselves (the window is applied at
normalisation; MONOCHROME1 mirrored about the window centre). A multi-frame DICOM is refused unless
the data YAML names a frame (``frame: N``, the same for every multi-frame file; single-frame files are
read as they are).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from yololab.data.imaging.orientation import SWAP_ORIENTATIONS, apply_orientation, exif_orientation
from yololab.data.imaging.pixels import PixelSpec
from yololab.errors import DataError

SNIFF_BYTES = 132  # a DICOM's preamble (128) and its "DICM" magic
_PNG = b"\x89PNG\r\n\x1a\n"
_TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # IHDR colour type -> samples (a palette decodes to RGB)
_ANYDEPTH_RGB = getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR) | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION
_UNCHANGED = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
#: what a missing DICOM pixel-data decoder is installed with
DICOM_DECODERS = "pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg (or python-gdcm)"


@dataclass(frozen=True)
class ImageInfo:
    """An image file's displayed size, channel count and bits per sample, from its header, and the sample
    type it decodes to (``dtype``: uint8, uint16 or float32)."""

    width: int
    height: int
    channels: int = 3
    bits: int = 8
    dtype: str = "uint8"


def is_dicom(head: bytes) -> bool:
    """A DICOM Part 10 file: 128 bytes of preamble, then ``DICM``."""
    return head[128:132] == b"DICM"


def is_tiff(head: bytes) -> bool:
    return head[:4] in _TIFF


def png_depth(head: bytes) -> tuple[int, int] | None:
    """(channels, bits) from a PNG's IHDR, or None for another format."""
    if not head.startswith(_PNG) or len(head) < 26:
        return None
    bits, colour = head[24], head[25]
    return _PNG_CHANNELS.get(colour, 3), (16 if bits == 16 else 8)


def pil_depth(im: Image.Image, head: bytes) -> tuple[int, int]:
    """(channels, bits) of an image PIL opened (a PNG's from its header: PIL reports 16-bit RGB as 8-bit)."""
    png = png_depth(head)
    if png is not None:
        return png
    bits = 16 if im.mode.startswith("I;16") else 32 if im.mode in ("I", "F") else 8
    return len(im.getbands()), bits


def pil_reads(info: ImageInfo) -> bool:
    """Whether PIL's checks apply to a TIFF (8-bit grey or colour): others are checked by tifffile only."""
    return info.bits == 8 and info.channels in (1, 3)


def _tiff_page(tif):
    """The first series' array layout: (shape, axes, dtype) of a TIFF."""
    series = tif.series[0]
    return series.shape, series.axes, series.dtype


def _hwc_axes(shape: tuple[int, ...], axes: str, name: str) -> tuple[int, int, int]:
    """(h, w, channels) of a TIFF series of ``axes``; one extra axis besides Y and X holds the bands."""
    dims = {a: n for a, n in zip(axes, shape) if not (n == 1 and a not in "YX")}
    if "Y" not in dims or "X" not in dims or len(dims) > 3:
        raise DataError(f"{name} is a TIFF with axes {axes} {tuple(shape)}; expected one image of (H, W) "
                        f"or (H, W, bands), planar or interleaved")
    bands = [n for a, n in dims.items() if a not in "YX"]
    return dims["Y"], dims["X"], bands[0] if bands else 1


def _tiff_orientation(tif) -> int:
    tag = tif.pages[0].tags.get("Orientation")
    try:
        return int(tag.value) if tag is not None else 1
    except (TypeError, ValueError):
        return 1


def tiff_info(path: str | os.PathLike | io.BytesIO, name: str | None = None) -> ImageInfo:
    """A TIFF's displayed size, bands and bits from its header (tifffile; no pixel data read); ``path``
    may be a file object (``name`` then names it in errors)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        shape, axes, dtype = _tiff_page(tif)
        h, w, c = _hwc_axes(shape, axes, name or str(path))
        if _tiff_orientation(tif) in SWAP_ORIENTATIONS:
            h, w = w, h
    kept = "float32" if np.dtype(dtype).kind == "f" else np.dtype(dtype).name
    return ImageInfo(w, h, c, np.dtype(dtype).itemsize * 8, kept)


def dicom_info(path: str | os.PathLike | io.BytesIO, name: str | None = None) -> ImageInfo:
    """A DICOM's size, samples per pixel and bits stored from its header (pixel data not read); a file
    without pixel data is refused. ``path`` may be a file object (``name`` then names it in errors)."""
    import pydicom

    ds = pydicom.dcmread(path, defer_size=1024)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DataError(f"{name or path} is a DICOM file without pixel data")
    return ImageInfo(int(ds.Columns), int(ds.Rows), int(ds.get("SamplesPerPixel", 1) or 1),
                     int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16), "float32")


def raw_kind(data: bytes, channels: int) -> str | None:
    """Which raw decoder ``data`` needs ('dicom', 'tiff', 'png16', 'any'), or None for the 8-bit photo path."""
    if is_dicom(data[:SNIFF_BYTES]):
        return "dicom"
    if is_tiff(data):
        if channels != 3:
            return "tiff"
        try:
            import tifffile

            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                shape, axes, dtype = _tiff_page(tif)
                c = _hwc_axes(shape, axes, "image")[2]
        except Exception:  # let the photo path report it
            return None
        return None if np.dtype(dtype) == np.uint8 and c in (1, 3) else "tiff"
    png = png_depth(data[:32])
    if png is not None and png[1] == 16:
        return "png16" if channels == 3 else "any"
    return None if channels == 3 else "any"


def _orientation_of(data: bytes) -> int:

    try:
        with Image.open(io.BytesIO(data)) as pim:
            return exif_orientation(pim)
    except Exception:
        return 1


def _keep_dtype(im: np.ndarray, name: str) -> np.ndarray:
    if im.dtype in (np.uint8, np.uint16, np.float32):
        return im
    if im.dtype == np.float64:
        return im.astype(np.float32)
    if im.dtype == bool:
        return im.astype(np.uint8) * np.uint8(255)
    raise DataError(f"{name} holds {im.dtype} pixels; yololab reads uint8, uint16 and float images "
                    f"(convert it to one of those)")


def _decode_cv2(data: bytes, name: str, flags: int) -> np.ndarray:
    """OpenCV decode at the file's depth (colour as RGB or RGBA), EXIF orientation read by PIL; PIL's
    array as the fallback."""

    im = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if im is None:
        try:
            with Image.open(io.BytesIO(data)) as pim:
                im = np.asarray(pim)
        except Exception as e:
            raise OSError(f"cannot decode {name}: {type(e).__name__}: {e}") from e
    elif im.ndim == 3 and flags == _UNCHANGED:
        im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB if im.shape[2] == 3 else cv2.COLOR_BGRA2RGBA) \
            if im.shape[2] in (3, 4) else im
    elif im.ndim == 3 and not hasattr(cv2, "IMREAD_COLOR_RGB"):  # pragma: no cover - OpenCV < 4.12
        im = cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
    return apply_orientation(_keep_dtype(np.asarray(im), name), _orientation_of(data))


def _decode_tiff(data: bytes, name: str) -> np.ndarray:
    """A TIFF's first image as (H, W, bands), its orientation tag applied."""
    import tifffile


    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            shape, axes, _ = _tiff_page(tif)
            im = tif.series[0].asarray()
            orientation = _tiff_orientation(tif)
    except Exception as e:
        raise OSError(f"cannot decode {name}: {type(e).__name__}: {e}") from e
    _hwc_axes(shape, axes, name)
    keep = [a for a, n in zip(axes, shape) if not (n == 1 and a not in "YX")]
    im = im.reshape([n for a, n in zip(axes, shape) if not (n == 1 and a not in "YX")])
    order = [keep.index("Y"), keep.index("X")] + [i for i, a in enumerate(keep) if a not in "YX"]
    im = np.ascontiguousarray(im.transpose(order))
    return apply_orientation(_keep_dtype(im, name), orientation)


def _first(value) -> float | None:
    """A DICOM number, or the first of a multi-valued one (WindowCenter may hold several)."""
    if value is None:
        return None
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
        if not len(value):
            return None
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def dicom_full_range(ds) -> tuple[float, float]:
    """(lowest, highest) value the stored bits can hold, through RescaleSlope/Intercept."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    a, b = lo * slope + intercept, hi * slope + intercept
    return min(a, b), max(a, b)


def dicom_window(ds, spec: PixelSpec) -> tuple[float, float]:
    """(center, width): the data YAML's, else the file's first WindowCenter/WindowWidth, else the full range."""
    if spec.window is not None:
        return spec.window
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width > 0:
        return center, width
    lo, hi = dicom_full_range(ds)
    return (lo + hi) / 2, max(hi - lo, 1e-12)


def decode_dicom(data: bytes, name: str, spec: PixelSpec) -> np.ndarray:
    """A DICOM as float32 (H, W, samples): see the module docstring."""
    import pydicom
    from pydicom.pixels import apply_modality_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as e:
        raise OSError(f"cannot decode {name}: {type(e).__name__}: {e}") from e
    if "PixelData" not in ds:
        raise DataError(f"{name} is a DICOM file without pixel data")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1 and spec.frame is None:
        raise DataError(f"{name} is a multi-frame DICOM ({frames} frames): name the frame to read with "
                        f"frame: N in the data YAML, or store one frame per file")
    if frames > 1 and spec.frame >= frames:
        raise DataError(f"{name} has {frames} frame(s); the data YAML's frame: {spec.frame} is not one of them")
    try:
        arr = ds.pixel_array
    except Exception as e:  # a compressed transfer syntax without its decoder, or broken pixel data
        syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
        label = getattr(syntax, "name", str(syntax))
        hint = f"; to decode {label}: {DICOM_DECODERS}" if syntax is not None and syntax.is_compressed else ""
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(f"{name}: cannot decode its DICOM pixel data ({type(e).__name__}: {first}){hint}") from None
    if frames > 1:
        arr = arr[spec.frame]
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    mono1 = str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1"
    if spec.normalize == "window":
        center = spec.window[0]
        return (2 * center - values if mono1 else values).astype(np.float32)
    center, width = dicom_window(ds, spec)
    out = np.clip((values - (center - width / 2)) / width, 0, 1)
    return (1 - out if mono1 else out).astype(np.float32)


def match_channels(im: np.ndarray, channels: int, name: str) -> np.ndarray:
    """``im`` as (H, W, ``channels``): a grey image is replicated in a 3-channel data set (as 8-bit photos
    always were); any other mismatch is a :class:`DataError` naming the image and both counts."""
    if im.ndim == 2:
        im = im[:, :, None]
    have = im.shape[2]
    if have == channels:
        return im
    if have == 1 and channels == 3:
        return np.ascontiguousarray(np.repeat(im, 3, axis=2))
    raise DataError(f"{name} has {have} channel(s) but the data set has channels: {channels} (set channels in "
                    f"the data YAML to match its images)")


def decode_raw(data: bytes, name: str, spec: PixelSpec, kind: str) -> np.ndarray:
    """Decode ``data`` with the decoder ``kind`` (:func:`raw_kind`) -> (H, W, spec.channels)."""
    if kind == "dicom":
        im = decode_dicom(data, name, spec)
    elif kind == "tiff":
        im = _decode_tiff(data, name)
    elif kind == "png16":
        im = _decode_cv2(data, name, _ANYDEPTH_RGB)
    else:
        im = _decode_cv2(data, name, _UNCHANGED)
    return match_channels(im, spec.channels, name)


def read_raw(path: str | os.PathLike, spec: PixelSpec) -> np.ndarray:
    """:func:`decode_raw` of a file, whatever its format."""
    data = Path(path).read_bytes()
    return decode_raw(data, str(path), spec, raw_kind(data, spec.channels) or "any")
