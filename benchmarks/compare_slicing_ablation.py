"""The sliced-vs-whole ablation of ``yololab compare`` on large images from real photos (issue 25, part 4).

    python benchmarks/slicing_mosaics.py MOSAICS --grid 3 --images 72
    python benchmarks/compare_slicing_ablation.py MOSAICS/mosaics/data.yaml OUT --weights ../shared/weights/yolov5n.pt

Every cell's "training" copies the given checkpoint (upstream yolov5n: trained on COCO, so its classes fit
coco128's), so the comparison's scoring is what is measured: each canvas scored sliced (``slicing:``) and
whole (``ablation: true``), on the same images, and the paired test of the two. Prints the rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--weights", required=True)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--slice", type=int, default=640)
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args()

    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import spec_from_mapping
    from yololab.models.checkpoints import load_model, save_model
    from yololab.train.contract import TrainSummary

    def copy_checkpoint(cfg, on_epoch_end=None):
        weights = Path(cfg.out) / "weights"
        model = load_model(args.weights)
        for name in ("last.pt", "best.pt"):
            save_model(model, weights / name, epoch=0)
        return TrainSummary(out=cfg.out, last=str(weights / "last.pt"), best=str(weights / "best.pt"),
                            best_map50_95=0.0, epochs_run=0)

    spec = spec_from_mapping({"name": "slicing_ablation", "data": args.data, "models": ["yolov5n"],
                              "backbones": ["native"], "seeds": [0], "epochs": 1, "imgsz": args.imgsz, "workers": 0,
                              "bootstrap": args.bootstrap, "latency_backends": ["torch"],
                              "slicing": {"size": args.slice, "ablation": True}})
    started = time.perf_counter()
    run_compare(spec, Path(args.out), RunSettings(train_fn=copy_checkpoint, bench=False, progress=False))
    rows = json.loads((Path(args.out) / "results.json").read_text())["rows"]
    print(f"compare with slicing ablation: {time.perf_counter() - started:.0f} s")
    keys = ("map50_95", "map50", "map_tiny", "map_small", "map_medium", "map_large")
    print("| row | " + " | ".join(keys) + " | Δ vs ref [95% CI] | p |")
    for r in rows:
        if r["row_type"] != "mean":
            continue
        ci = r.get("delta_map50_95_ci95")
        delta = (f"{100 * r['delta_map50_95']:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
                 if r.get("delta_map50_95") is not None and ci else "ref" if r.get("is_reference") else "–")
        p = f"{r['p_value']:.2g}" if r.get("p_value") is not None else "–"
        cells = " | ".join("–" if r.get(k) is None else f"{100 * r[k]:.1f}" for k in keys)
        print(f"| {r['backbone']} | {cells} | {delta} | {p} |")


if __name__ == "__main__":
    main()
