"""Issue 26's exactness check: one grayscale image set stored four ways scores the same mAP.

    python benchmarks/channels_exactness.py OUT [--images 128] [--imgsz 640] [--weights ../shared/weights/yolov5n.pt]

From coco128's val2017 photos (their labels unchanged) it writes four copies of the same grayscale images
(OpenCV's RGB->gray, rounded to 8 bits, resized once to ``--imgsz`` on the long side so that scoring does not
resample them) under OUT:

- ``gray3/``:  8-bit PNG, the gray value replicated to three channels (``channels: 3``): the ordinary
  3-channel model on gray images;
- ``gray1/``:  8-bit single-channel PNG (``channels: 1``): the model's stem adapted to one channel
  (timm's rule: the RGB filters summed);
- ``gray16/``: 16-bit single-channel PNG holding value x 257 (``channels: 1``, divided by 65535);
- ``dicom/``:  16-bit DICOM (MONOCHROME2, value x 257) whose own WindowCenter/WindowWidth tags (32767.5,
  65535) are the full range: decoded through pydicom and windowed to (x - (c - w/2)) / w = x / 65535.

then scores upstream's yolov5n.pt on each with ``yololab val --json`` and prints the four mAPs and the largest
difference from ``gray3`` (the issue asks for 1e-4 at most).

``--keep-size`` writes the photos at their own size instead. Scoring then resizes some of them, and a resize
of 8-bit data rounds every interpolated pixel to a whole 8-bit level while the 16-bit copies keep 1/257 of
a level: the 16-bit and DICOM rows then differ from the 8-bit ones by that rounding (about 1e-3 mAP), as a
16-bit pipeline should.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COCO128 = SHARED / "data" / "coco128"


def gray_photos(n: int, long_side: int | None) -> list[tuple[str, np.ndarray, Path]]:
    """(stem, 8-bit gray HxW, label file) of the first ``n`` val2017 photos, resized to ``long_side``."""
    from yololab.data.imaging.images import read_image

    files = sorted((COCO128 / "images" / "val2017").glob("*.jpg"))[:n]
    out = []
    for f in files:
        gray = cv2.cvtColor(read_image(f), cv2.COLOR_RGB2GRAY)
        if long_side is not None and max(gray.shape) != long_side:
            r = long_side / max(gray.shape)
            gray = cv2.resize(gray, (round(gray.shape[1] * r), round(gray.shape[0] * r)), interpolation=cv2.INTER_AREA)
        out.append((f.stem, gray, COCO128 / "labels" / "val2017" / f"{f.stem}.txt"))
    return out


def write_dicom(path: Path, pixels: np.ndarray, center: float, width: float) -> None:
    """A minimal 16-bit MONOCHROME2 DICOM (explicit VR little endian) with one window."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.WindowCenter, ds.WindowWidth = center, width
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_sets(out: Path, n: int, long_side: int | None) -> dict[str, Path]:
    """The four copies, each a YOLO folder with its data.yaml; returns {name: data.yaml}."""
    names = (COCO128 / "data.yaml").read_text().split("names:", 1)[1]
    kinds = {"gray3": "channels: 3\n", "gray1": "channels: 1\n", "gray16": "channels: 1\n",
             "dicom": "channels: 1\n"}
    yamls = {}
    for kind, extra in kinds.items():
        root = out / kind
        (root / "images" / "val").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "val").mkdir(parents=True, exist_ok=True)
        yaml = root / "data.yaml"
        yaml.write_text(f"path: .\ntrain: images/val\nval: images/val\n{extra}names:{names}")
        yamls[kind] = yaml
    for stem, gray, label in gray_photos(n, long_side):
        for kind in kinds:
            (out / kind / "labels" / "val" / f"{stem}.txt").write_bytes(label.read_bytes() if label.exists() else b"")
        images = {k: out / k / "images" / "val" for k in kinds}
        cv2.imwrite(str(images["gray3"] / f"{stem}.png"), np.dstack([gray] * 3))
        cv2.imwrite(str(images["gray1"] / f"{stem}.png"), gray)
        cv2.imwrite(str(images["gray16"] / f"{stem}.png"), gray.astype(np.uint16) * 257)
        write_dicom(images["dicom"] / f"{stem}.dcm", gray.astype(np.uint16) * 257, 32767.5, 65535)
    return yamls


def score(weights: str, data: Path, imgsz: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "val.json"
        subprocess.run([sys.executable, "-m", "yololab", "val", "--weights", weights, "--data", str(data),
                        "--imgsz", str(imgsz), "--device", "cpu", "--json", str(js)], check=True)
        return float(json.loads(js.read_text())["map50_95"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolov5n.pt"))
    p.add_argument("--keep-size", action="store_true", help="write the photos at their own size (see above)")
    args = p.parse_args(argv)
    yamls = write_sets(Path(args.out), args.images, None if args.keep_size else args.imgsz)
    maps = {kind: score(args.weights, yaml, args.imgsz) for kind, yaml in yamls.items()}
    worst = max(abs(v - maps["gray3"]) for v in maps.values())
    for kind, value in maps.items():
        print(f"{kind:7s} mAP50-95 {value:.6f}  (difference from gray3 {value - maps['gray3']:+.2e})")
    print(f"largest difference {worst:.2e} ({'within' if worst <= 1e-4 else 'NOT within'} 1e-4)")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
