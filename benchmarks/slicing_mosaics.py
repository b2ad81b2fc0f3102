"""Large images with small objects from real photos: ``--grid`` x ``--grid`` mosaics of coco128 val2017.

    python benchmarks/slicing_mosaics.py OUT [--grid 3] [--images 72]

Writes two YOLO data sets under OUT (a new folder): ``photos/`` (links to the first ``--images`` photos and
their labels: the same objects, scored image by image) and ``mosaics/`` (each canvas holds ``grid**2`` photos
at their own size on a grey ground, labels moved along, so at ``--imgsz 640`` a whole-image letterbox shrinks
every object ``grid`` times). Then compare:

    yololab val --weights W --data OUT/photos/data.yaml                 # image by image
    yololab val --weights W --data OUT/mosaics/data.yaml                # whole canvas letterboxed to 640
    yololab val --weights W --data OUT/mosaics/data.yaml --slice 640    # sliced, scored on the canvas
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
COCO128 = REPO.parent / "shared" / "data" / "coco128"


def _labels(path: Path) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return np.array(rows, np.float64).reshape(-1, 5)


def build(out: Path, grid: int, count: int) -> tuple[Path, Path]:
    images = sorted((COCO128 / "images" / "val2017").glob("*.jpg"))[:count - count % (grid * grid)]
    names = yaml.safe_load((COCO128 / "data.yaml").read_text())["names"]
    for sub in ("photos", "mosaics"):
        (out / sub / "images" / "val").mkdir(parents=True)
        (out / sub / "labels" / "val").mkdir(parents=True)
        (out / sub / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/val", "val": "images/val",
                                                             "names": names}, sort_keys=False))
    for f in images:
        (out / "photos" / "images" / "val" / f.name).symlink_to(f.resolve())
        lab = COCO128 / "labels" / "val2017" / f"{f.stem}.txt"
        if lab.is_file():
            (out / "photos" / "labels" / "val" / lab.name).symlink_to(lab.resolve())
    for m in range(len(images) // (grid * grid)):
        group = images[m * grid * grid:(m + 1) * grid * grid]
        photos = [cv2.imread(str(f)) for f in group]
        ch, cw = max(p.shape[0] for p in photos), max(p.shape[1] for p in photos)
        H, W = grid * ch, grid * cw
        canvas = np.full((H, W, 3), 114, np.uint8)
        lines = []
        for k, (f, p) in enumerate(zip(group, photos)):
            y, x = (k // grid) * ch, (k % grid) * cw
            h, w = p.shape[:2]
            canvas[y:y + h, x:x + w] = p
            for c, cx, cy, bw, bh in _labels(COCO128 / "labels" / "val2017" / f"{f.stem}.txt").tolist():
                lines.append(f"{int(c)} {(x + cx * w) / W:.6f} {(y + cy * h) / H:.6f} {bw * w / W:.6f} {bh * h / H:.6f}")
        stem = f"mosaic_{m:03d}"
        cv2.imwrite(str(out / "mosaics" / "images" / "val" / f"{stem}.png"), canvas)
        (out / "mosaics" / "labels" / "val" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return out / "photos" / "data.yaml", out / "mosaics" / "data.yaml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="a new folder")
    p.add_argument("--grid", type=int, default=3)
    p.add_argument("--images", type=int, default=72)
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; give a new folder")
    for path in build(out, args.grid, args.images):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
