"""One decoder for train, val, predict and serve: a real photo saved with each EXIF orientation as JPEG,
PNG, TIFF (raw, LZW, JPEG-compressed) and WebP decodes to the same displayed array through every reader,
and the header check reports that array's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from yololab.data import DetectionDataset, ImageRecord, read_image
from yololab.data.imaging.images import check_image
from yololab.deploy.runtime.images import decode_image_bytes, load_image
from yololab.deploy.sources import iter_frames

FORMATS = {  # suffix -> (PIL format, save options, lossless)
    "png": ("PNG", {}, True),
    "tif": ("TIFF", {}, True),
    "lzw.tif": ("TIFF", {"compression": "tiff_lzw"}, True),
    "jpeg.tif": ("TIFF", {"compression": "jpeg", "quality": 95}, False),
    "webp": ("WEBP", {"lossless": True}, True),
    "jpg": ("JPEG", {"quality": 95}, False),
}


@pytest.fixture(scope="module")
def photo(coco128: Path) -> np.ndarray:
    """A non-square crop of a real coco128 image (stored orientation, RGB)."""
    path = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[0]
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))[:96, :160].copy()


def _readers(path: Path) -> dict[str, np.ndarray]:
    w, h = check_image(path)
    dataset = DetectionDataset([ImageRecord(str(path), w, h)], img_size=max(w, h))
    frames = list(iter_frames([path]))
    return {
        "read_image (train/val)": read_image(path),
        "DetectionDataset": dataset.load_image(0)[0],
        "load_image (predict)": load_image(path),
        "iter_frames (predict)": frames[0].image,
        "decode_image_bytes (serve)": decode_image_bytes(path.read_bytes()),
    }


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_every_reader_and_format_applies_exif_orientation_alike(photo, orientation, tmp_path) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    png = tmp_path / "ref.png"
    Image.fromarray(photo).save(png, exif=exif.tobytes())
    with Image.open(png) as im:  # PIL's own reading of the orientation is the reference
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    if orientation in (5, 6, 7, 8):
        assert expected.shape[:2] == photo.shape[1::-1]
    for suffix, (fmt, options, lossless) in FORMATS.items():
        path = tmp_path / f"o{orientation}.{suffix}"
        Image.fromarray(photo).save(path, fmt, exif=exif.tobytes(), **options)
        w, h = check_image(path)
        for reader, got in _readers(path).items():
            where = f"{reader} on {suffix} with orientation {orientation}"
            assert got.shape == expected.shape == (h, w, 3), where
            diff = np.abs(got.astype(np.int16) - expected).mean()
            assert diff == 0 if lossless else diff < 4, f"{where}: mean difference {diff:.1f}"


@pytest.mark.parametrize("decoder", ["simplejpeg", "opencv"])
def test_dct_scaled_decode_keeps_pixels_and_exif_orientation(photo, coco128, decoder, tmp_path, monkeypatch) -> None:
    """The training mosaic's reduced decode (data/imaging/jpeg_scaled.py): full size gives the one decoder's pixels;
    halved, the displayed image at half size, for every EXIF orientation, with simplejpeg or OpenCV."""
    import cv2

    from yololab.data.imaging import jpeg_scaled

    if decoder == "opencv":
        monkeypatch.setattr(jpeg_scaled, "simplejpeg", None)
    elif jpeg_scaled.simplejpeg is None:
        pytest.skip("simplejpeg is not installed (optional)")
    assert [jpeg_scaled.dct_factor(640, n) for n in (640, 321, 320, 160, 80, 1)] == [1, 1, 2, 4, 8, 8]
    for path in sorted((coco128 / "images" / "train2017").glob("*.jpg"))[:6]:
        assert np.array_equal(jpeg_scaled.read_image_scaled(path, 10_000), read_image(path))
    for orientation in (1, 3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.jpg"
        Image.fromarray(photo).save(path, "JPEG", quality=95, exif=exif.tobytes())
        full = read_image(path)
        half = jpeg_scaled.read_image_scaled(path, max(full.shape[:2]) // 2)
        assert half.shape == (full.shape[0] // 2, full.shape[1] // 2, 3), orientation
        ref = cv2.resize(full, half.shape[1::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(half.astype(np.int16) - ref).mean() < 4, orientation
