"""Label/image checks on a deliberately broken tiny dataset: everything counted once, nothing crashes."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from yololab.data import DetectionDataset, load_records, read_image
from yololab.data.checks import parse_label_text
from yololab.data.imaging.images import ImageCheckError, check_image


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: the user cache in tmp_path


def noisy_jpeg(path: Path, w: int = 64, h: int = 48, seed: int = 0) -> Path:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def exif_rotated_jpeg(path: Path) -> np.ndarray:
    """Write a JPEG whose EXIF orientation 6 (rotate 90 CW) displays ``shown`` (h=64, w=32, red square)."""
    shown = np.full((64, 32, 3), 255, np.uint8)
    shown[8:24, 4:20] = (255, 0, 0)  # RGB red, x 4..20, y 8..24
    raw = Image.fromarray(np.ascontiguousarray(np.rot90(shown, 1)))  # stored 64 wide, 32 high
    exif = raw.getexif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    raw.save(path, exif=exif, quality=95)
    return shown


LABELS = {
    "good": "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.2 0.2\n",
    "crlf": "\ufeff0 0.5 0.5 0.5 0.5\r\n2 0.25 0.25 0.2 0.2\r\n",
    "malformed": "0 0.5 0.5 0.2 0.2\nfoo bar baz qux quux\n0 0.5 0.5\n1 0.3 0.3 0.1 0.1 0.9\n",
    "badclass": "5 0.5 0.5 0.2 0.2\n-1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n",
    "dup": "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.1 0.1\n",
    "outside": "0 0.995 0.5 0.02 0.2\n0 1.5 0.5 0.2 0.2\n0 0.5 0.5 0 0.1\n2 0.5 0.5 0.3 0.3\n",
    "polygon": "1 0.1 0.1 0.5 0.1 0.5 0.6\n",
    "empty": "",
    "corrupt": "0 0.5 0.5 0.2 0.2\n",
    "truncated": "0 0.5 0.5 0.2 0.2\n",
    "rotated": "0 0.375 0.25 0.5 0.25\n",
}


@pytest.fixture
def broken(tmp_path) -> Path:
    """images/train with one problem per file (see LABELS), plus an image without and a label without partner."""
    img_dir, lab_dir = tmp_path / "ds/images/train", tmp_path / "ds/labels/train"
    lab_dir.mkdir(parents=True)
    for i, (stem, text) in enumerate(LABELS.items()):
        (lab_dir / f"{stem}.txt").write_text(text, encoding="utf-8", newline="")
        if stem == "rotated":
            exif_rotated_jpeg(img_dir / "rotated.jpg")
        elif stem != "corrupt":
            noisy_jpeg(img_dir / f"{stem}.jpg", seed=i)
    (img_dir / "corrupt.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg" * 10)
    full = noisy_jpeg(tmp_path / "full.jpg", 96, 96).read_bytes()
    (img_dir / "truncated.jpg").write_bytes(full[: len(full) * 6 // 10])
    noisy_jpeg(img_dir / "nolabel.jpg", seed=99)
    (lab_dir / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    return img_dir


def test_broken_dataset_report(broken, caplog):
    with caplog.at_level(logging.INFO, logger="yololab"):
        records, rep = load_records(broken, ["a", "b", "c"], name="broken")
    assert rep.images_listed == 12 and rep.images == 10
    expected = dict(corrupt_image=1, truncated_image=1, missing_label=1, orphan_label=1, malformed_line=3,
                    class_out_of_range=2, duplicate_box=2, clipped=1, out_of_range=1, degenerate_box=1)
    assert rep.issues() == expected
    assert rep.empty_label == 1 and rep.polygon_converted == 1 and rep.orphan_boxes == 1
    assert rep.examples["corrupt_image"][0].startswith("corrupt.jpg")
    assert rep.examples["truncated_image"][0].startswith("truncated.jpg")
    assert rep.examples["orphan_label"] == ["orphan.txt"]
    assert rep.examples["class_out_of_range"] == ["badclass.txt (class -1, 5, nc=3)"]
    assert rep.examples["malformed_line"] == ["malformed.txt (line 2: not numbers 'foo bar baz qux quux')"]
    # one summary warning, naming every kind
    warnings = [r.getMessage() for r in caplog.records if r.name == "yololab" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    for word in ("truncated", "malformed", "duplicate", "without a label", "without an image", "class id"):
        assert word in warnings[0]

    by = {Path(r.path).stem: r for r in records}
    assert set(by) == set(LABELS) - {"corrupt", "truncated"} | {"nolabel"}
    np.testing.assert_allclose(by["good"].labels, [[0, 0.5, 0.5, 0.5, 0.5], [1, 0.25, 0.25, 0.2, 0.2]], atol=1e-6)
    assert by["crlf"].labels[:, 0].tolist() == [0, 2]
    assert len(by["malformed"].labels) == 1
    assert by["badclass"].labels[:, 0].tolist() == [1]
    assert len(by["dup"].labels) == 2
    out = by["outside"].labels
    assert out[:, 0].tolist() == [0, 2]
    assert out[0, 1] + out[0, 3] / 2 == pytest.approx(1.0) and out[0, 3] == pytest.approx(0.015, abs=1e-6)
    assert by["polygon"].labels.tolist() == [pytest.approx([1, 0.3, 0.35, 0.4, 0.5])]
    assert len(by["nolabel"].labels) == 0 and by["nolabel"].label_path is None
    assert len(by["empty"].labels) == 0 and rep.backgrounds == 2
    assert rep.boxes == sum(len(r.labels) for r in records)


def test_broken_dataset_items_load(broken):
    records, _ = load_records(broken, 3, log=False)
    ds = DetectionDataset(records, img_size=64, rect=True, batch_size=4)
    for i in range(len(ds)):
        img, labels, path, _ = ds[i]
        assert img.dtype.is_floating_point is False and img.shape[0] == 3
        assert labels.shape[1] == 6 and ((labels[:, 2:] >= 0) & (labels[:, 2:] <= 1)).all()


def test_exif_orientation(tmp_path):
    shown = exif_rotated_jpeg(tmp_path / "images/x/r.jpg")
    assert check_image(tmp_path / "images/x/r.jpg") == (32, 64)
    im = read_image(tmp_path / "images/x/r.jpg")
    assert im.shape == shown.shape
    assert np.abs(im.astype(int) - shown).mean() < 8  # same orientation (JPEG noise aside)
    (tmp_path / "labels/x").mkdir(parents=True)
    (tmp_path / "labels/x/r.txt").write_text(LABELS["rotated"])
    (rec,), _ = load_records(tmp_path / "images/x", log=False)
    assert (rec.width, rec.height) == (32, 64)
    img, labels, _, shapes = DetectionDataset([rec], img_size=64, rect=True, batch_size=1)[0]
    assert shapes[0] == (64, 32)
    _, _, cx, cy, w, h = labels[0].tolist()
    H, W = img.shape[1:]
    crop = img[:, int(cy * H - h * H / 2) + 2: int(cy * H + h * H / 2) - 2,
               int(cx * W - w * W / 2) + 2: int(cx * W + w * W / 2) - 2].float().mean((1, 2))
    assert crop[0] > 200 and crop[1] < 60 and crop[2] < 60  # the red square sits under its box


def test_check_image_kinds(tmp_path):
    noisy_jpeg(tmp_path / "tiny.jpg", 8, 8)
    with pytest.raises(ImageCheckError) as e:
        check_image(tmp_path / "tiny.jpg")
    assert e.value.kind == "corrupt_image"
    good = noisy_jpeg(tmp_path / "ok.jpg", 40, 30).read_bytes()
    (tmp_path / "trailing.jpg").write_bytes(good + b"appended metadata")  # not truncated, just trailing data
    assert check_image(tmp_path / "trailing.jpg") == (40, 30)


def test_parse_label_text_formats():
    labels, counts, notes = parse_label_text("1.0 5e-1 0.5 2.5e-1 0.25\n\n  3 0.1 0.1 0.1 0.1  \n2.5 0.5 0.5 0.1 0.1\n"
                                         "0 nan 0.5 0.1 0.1\n")
    assert labels[:, 0].tolist() == [1, 3] and labels.dtype == np.float32
    assert counts == {"malformed_line": 2}
    assert notes["malformed_line"].startswith("line 4:")
    labels, counts, _ = parse_label_text("0 0.5 0.5 1.0000005 0.2\n0 -0.3 0.5 0.2 0.2\n")
    assert counts == {"out_of_range": 1}  # rounding noise past the border is clipped without being counted
    assert labels[0, 3] == pytest.approx(1.0)


def test_listing_problems(tmp_path):
    img_dir = tmp_path / "images/a"
    noisy_jpeg(img_dir / "x.jpg")
    noisy_jpeg(img_dir / "x.png", seed=1)  # same stem: both would read labels/a/x.txt
    (tmp_path / "labels/a").mkdir(parents=True)
    (tmp_path / "labels/a/x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    lst = tmp_path / "list.txt"
    lst.write_text("images/a/x.jpg\nimages/a/x.jpg\nimages/a/readme.md\n")
    records, rep = load_records([lst, img_dir], 1, log=False)
    assert len(records) == 2 and rep.images_listed == 2
    assert rep.issues() == {"duplicate_image": 2, "unsupported_file": 1, "label_conflict": 2}
    assert all(len(r.labels) == 1 for r in records)
    with pytest.raises(FileNotFoundError, match="no images"):
        load_records(tmp_path / "labels", log=False)
