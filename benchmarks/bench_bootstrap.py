"""Time of the paired image bootstrap of COCO mAP (yololab.eval.bootstrap) at 500 and 5,000 images.

The pair is yolov5n's real detections on coco128 val2017 and the same detections with boxes jittered
by 20% of their size; GT and both result sets are tiled (new image ids) to the wanted image count.
Prints, per size, the seconds of the one-off matching (pycocotools evaluate, both files) and of the
weighted accumulate over the resamples (both files on the same weights, plus the point estimates), and the bootstrap result.

    python benchmarks/bench_bootstrap.py [--sizes 500,5000] [--n 1000] [--dt dets.json] [--save-dt dets.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def real_detections(weights: Path, data: Path) -> tuple[dict, list[dict]]:
    """COCO GT of the val split and yolov5n's detections on it (one thread)."""
    import torch

    from yololab import load_model
    from yololab.data import load_data_config, load_split
    from yololab.eval.coco import yolo_records_to_coco_gt
    from yololab.eval.validate import ValSettings, validate

    torch.set_num_threads(1)
    records, names = load_split(data, "val", cache=False, log=False)[0], load_data_config(data).names
    result = validate(load_model(weights).eval().fuse(), records, names, ValSettings(workers=0), progress=False)
    return yolo_records_to_coco_gt(records, names), result.detections


def jitter(dt: list[dict], frac: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for d in dt:
        x, y, w, h = d["bbox"]
        dx, dy = rng.normal(0, frac, 2) * (w, h)
        sw, sh = np.exp(rng.normal(0, frac, 2))
        out.append({**d, "bbox": [x + dx + w * (1 - sw) / 2, y + dy + h * (1 - sh) / 2, w * sw, h * sh]})
    return out


def tile(gt: dict, dts: list[list[dict]], n_images: int) -> tuple[dict, list[list[dict]]]:
    """``n_images`` images cycling through the GT's, each copy under a new id."""
    base = gt["images"]
    new_ids = {}  # (copy, old id) -> new id
    images = []
    for k in range(n_images):
        im = base[k % len(base)]
        new_ids[(k // len(base), im["id"])] = k + 1
        images.append({**im, "id": k + 1})
    copies = range((n_images + len(base) - 1) // len(base))

    def retag(items: list[dict]) -> list[dict]:
        return [{**x, "image_id": new_ids[(c, x["image_id"])]} for c in copies for x in items
                if (c, x["image_id"]) in new_ids]

    anns = [{**a, "id": k + 1} for k, a in enumerate(retag(gt["annotations"]))]
    return {**gt, "images": images, "annotations": anns}, [retag(d) for d in dts]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolov5n.pt"))
    p.add_argument("--data", default=str(SHARED / "data" / "coco128" / "data.yaml"))
    p.add_argument("--sizes", default="500,5000", help="comma-separated image counts")
    p.add_argument("--n", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--dt", default=None, help="reuse {gt, dt} saved by --save-dt instead of running the model")
    p.add_argument("--save-dt", default=None, help="save the GT and real detections here as JSON")
    args = p.parse_args(argv)

    from yololab.eval.bootstrap import bootstrap_matches, format_bootstrap, match_pair

    if args.dt:
        saved = json.loads(Path(args.dt).read_text())
        gt, dt = saved["gt"], saved["dt"]
    else:
        for path in (args.weights, args.data):
            if not Path(path).exists():
                print(f"skipped: {path} not found (the real data lives in ../shared beside the checkout)")
                return 0
        gt, dt = real_detections(Path(args.weights), Path(args.data))
        if args.save_dt:
            Path(args.save_dt).write_text(json.dumps({"gt": gt, "dt": dt}))
    ref = jitter(dt, 0.2, seed=0)
    print(f"base: {len(gt['images'])} images, {len(dt)} detections per file; {args.n} resamples")
    for size in (int(s) for s in args.sizes.split(",")):
        g, (a, b) = tile(gt, [dt, ref], size)
        t0 = time.perf_counter()
        ma, mb = match_pair(g, a, b)  # as bootstrap_map does: in two processes on two cores
        t1 = time.perf_counter()
        result = bootstrap_matches(ma, mb, n=args.n, seed=0)
        t2 = time.perf_counter()
        print(f"\n{size} images, {len(a)} + {len(b)} detections, {ma.blocks[-1]} + {mb.blocks[-1]} key detections:")
        print(f"  matching (pycocotools evaluate, 2 files): {t1 - t0:.1f} s")
        print(f"  {args.n} paired resamples (weighted accumulate, 2 files): {t2 - t1:.1f} s")
        print(f"  total: {t2 - t0:.1f} s")
        print("  " + format_bootstrap(result).replace("\n", "\n  "))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
