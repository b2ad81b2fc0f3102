"""A comparison with ``robustness:`` on real photos: upstream yolov5n.pt (the reference entry) against the same
weights with Gaussian noise added (the candidate), 3 seeds each, scored on the first N coco128 val2017 photos
clean and under the corruptions asked for. Training is replaced by loading the checkpoint (the seed sets a
small weight perturbation, so seeds differ): what is measured is the scoring, mPC, rPC, Δ mPC's test and
the cost of the corrupted passes. Prints the summary rows and the time taken.

    python benchmarks/compare_robustness.py [--images 32] [--imgsz 320] [--corruptions gaussian_noise,fog]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
WEIGHTS = SHARED / "weights" / "yolov5n.pt"


def stand_in_train(cfg):
    """The trainer's contract without training: yolov5n.pt, perturbed by 1% (seed) or 4% (a candidate entry,
    marked by backbone_lr_mult != 1) of each tensor's std."""
    import torch

    from yololab.experiments.run import dryrun
    from yololab.models.checkpoints import load_model, save_model

    summary = dryrun.train(cfg)  # the files a trained cell has
    model = load_model(WEIGHTS)
    gen = torch.Generator().manual_seed(cfg.seed)
    scale = 0.04 if cfg.backbone_lr_mult != 1.0 else 0.01
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1:
                p.add_(torch.randn(p.shape, generator=gen) * p.std() * scale)
    for path in (summary.best, summary.last):
        save_model(model, path, epoch=-1)
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--corruptions", default="gaussian_noise,defocus_blur,fog,contrast")
    p.add_argument("--severities", default="1,3,5")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import spec_from_mapping

    coco = (SHARED / "data" / "coco128").resolve()
    root = Path(tempfile.mkdtemp(prefix="compare_robustness_"))
    val = sorted((coco / "images" / "val2017").glob("*.jpg"))[:args.images]
    train = sorted((coco / "images" / "train2017").glob("*.jpg"))[:4]
    (root / "val.txt").write_text("\n".join(map(str, val)) + "\n")
    (root / "train.txt").write_text("\n".join(map(str, train)) + "\n")
    names = (coco / "data.yaml").read_text().split("names:", 1)[1]
    (root / "data.yaml").write_text(f"path: {coco}\ntrain: {root / 'train.txt'}\nval: {root / 'val.txt'}\nnames:{names}")
    spec = spec_from_mapping({
        "name": "robustness", "data": str(root / "data.yaml"), "models": ["yolov5n"],
        "backbones": ["native", {"name": "native", "label": "perturbed", "backbone_lr_mult": 0.5}],
        "seeds": [int(s) for s in args.seeds.split(",")], "epochs": 1, "imgsz": args.imgsz, "batch": 8, "workers": 1,
        "eval_batch": 8, "bootstrap": 1000,
        "robustness": {"corruptions": args.corruptions.split(","),
                       "severities": [int(s) for s in args.severities.split(",")]}})
    started = time.perf_counter()
    run_compare(spec, root / "out", RunSettings(train_fn=stand_in_train, bench=False, progress=False, executor="local"))
    seconds = time.perf_counter() - started
    rows = json.loads((root / "out" / "results.json").read_text())["rows"]
    keys = ("backbone", "map50_95", "mpc", "mpc_ci95", "rpc", "delta_map50_95", "p_value", "delta_mpc",
            "delta_mpc_ci95", "delta_mpc_p_value", "delta_mpc_seed_sd", "delta_mpc_image_sd")
    for r in rows:
        if r["row_type"] == "mean":
            print({k: r.get(k) for k in keys})
    cells = sum(r["row_type"] == "cell" for r in rows)
    print(f"{cells} cells x ({spec.robustness.passes} corrupted + 1 clean) scoring passes on {len(val)} photos "
          f"at {args.imgsz} px: {seconds:.0f} s in all; folder {root / 'out'}")


if __name__ == "__main__":
    main()
