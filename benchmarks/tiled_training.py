"""Tiled training against whole-image training on large canvases of small objects: the same model, data,
epochs and seed, each scored by the full-image sliced mAP (and the letterboxed whole-image mAP).

    python benchmarks/tiled_training.py [--canvas 768] [--train 4] [--val 2] [--imgsz 256] [--tile 256]
        [--epochs 5] [--whole-epochs N] [--runs whole,tiles] [--batch 8] [--lr0 0.02] [--weights ../shared/weights/yolov5n.pt] [--device cpu] [--json out.json]

The data are :func:`yololab.data.synthetic.make_large_synthetic_dataset` canvases (shapes of 6-14 px
radius) in a temporary folder. "whole" trains on each canvas letterboxed to ``--imgsz`` (objects shrink by
canvas / imgsz); "tiles" trains with ``tiles: {size: --tile}`` (a tile of ``--tile`` px is ``--imgsz`` px,
so objects keep their size when --tile equals --imgsz). Both are scored on the val canvases sliced as tiled
training's val slices them (``--tile`` slices, overlap 0.2, NMS on IOU 0.5, no whole-image pass) and
letterboxed whole. A tiled epoch sees every tile, so it has more steps than a whole-image epoch: the
seconds and items per epoch are printed beside the mAPs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def score(weights: Path, data: Path, imgsz: int, tile: int, device: str) -> dict[str, float]:
    """Full-image sliced and whole-image letterboxed mAP50-95 / mAP50 of ``weights`` on the val canvases."""
    from yololab.data import load_data_config, load_split
    from yololab.eval.sliced_val import validate_sliced
    from yololab.eval.slicing import SliceSettings
    from yololab.eval.validate import ValSettings, validate
    from yololab.models.checkpoints import load_model

    cfg = load_data_config(data)
    records, _ = load_split(cfg, "val", log=False)
    model = load_model(weights).to(device).eval()
    settings = ValSettings(image_size=imgsz, batch_size=8, workers=0)
    sliced = validate_sliced(model, records, cfg.names, settings, SliceSettings.for_val(tile, full_pass=False),
                             device, progress=False).summary()
    whole = validate(model, records, cfg.names, settings, device, progress=False).summary()
    return {"sliced_map50_95": sliced["map50_95"], "sliced_map50": sliced["map50"],
            "whole_map50_95": whole["map50_95"], "whole_map50": whole["map50"]}


def run(args: argparse.Namespace, root: Path) -> dict[str, dict]:
    from yololab.data.synthetic import make_large_synthetic_dataset
    from yololab.train.config import TrainConfig
    from yololab.train.trainer import Trainer

    data = make_large_synthetic_dataset(root / "data", num_train=args.train, num_val=args.val, canvas=args.canvas,
                                        objects=args.objects, radius=(6.0, 14.0), seed=args.seed)
    out: dict[str, dict] = {}
    whole_epochs = args.whole_epochs or args.epochs
    runs = (("whole", None, whole_epochs), ("tiles", {"size": args.tile, "overlap": 0.2}, args.epochs))
    for name, tiles, epochs in (r for r in runs if r[0] in args.runs.split(",")):
        cfg = TrainConfig(model=args.model, data=str(data), imgsz=args.imgsz, batch=args.batch, epochs=epochs,
                          workers=args.workers, out=str(root / name), progress=False, plots=False, seed=args.seed,
                          weights=args.weights, device=args.device, cache="ram", tiles=tiles, val_every=epochs,
                          hyp={"lr0": args.lr0, "warmup_epochs": 0.0}, nominal_batch=args.batch)
        trainer = Trainer(cfg)
        started = time.perf_counter()
        try:
            trainer.setup()
            trainer.fit()
        finally:
            trainer.release()
        seconds = time.perf_counter() - started
        out[name] = {"epochs": epochs, "items_per_epoch": len(trainer.dataset), "train_seconds": round(seconds, 1),
                     **score(root / name / "weights" / "last.pt", data, args.imgsz, args.tile, args.device)}
        print(name, json.dumps(out[name]), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--canvas", type=int, default=768)
    p.add_argument("--train", type=int, default=4, help="training canvases")
    p.add_argument("--val", type=int, default=2, help="val canvases")
    p.add_argument("--objects", type=int, default=40, help="shapes per canvas (at most)")
    p.add_argument("--imgsz", type=int, default=256)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--whole-epochs", type=int, default=None,
                   help="epochs of the whole-image run (default --epochs; tiles per image x --epochs: as many items)")
    p.add_argument("--runs", default="whole,tiles", help="which trainings: whole, tiles or both")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr0", type=float, default=0.02, help="initial lr (no warm-up, no accumulation: short runs)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--model", default="yolov5n")
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolov5n.pt"),
                   help="initial weights (the head is re-initialised for the shapes' classes); '' for none")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    args.weights = args.weights or None
    if args.weights and not Path(args.weights).is_file():
        raise SystemExit(f"--weights {args.weights} does not exist (give '' to train from scratch)")
    with tempfile.TemporaryDirectory() as tmp:
        out = run(args, Path(tmp))
    print(f"\n{args.canvas} px canvases, {args.train} train / {args.val} val, {args.model} at {args.imgsz}, "
          f"tiles {args.tile} px (overlap 0.2), lr0 {args.lr0}, no warm-up")
    print(f"{'training':<8} {'epochs':>6} {'items/epoch':>11} {'seconds':>8} {'sliced mAP50-95':>16} {'sliced mAP50':>13} "
          f"{'whole mAP50-95':>15} {'whole mAP50':>12}")
    for name, r in out.items():
        print(f"{name:<8} {r['epochs']:>6} {r['items_per_epoch']:>11} {r['train_seconds']:>8} {r['sliced_map50_95']:>16.4f} "
              f"{r['sliced_map50']:>13.4f} {r['whole_map50_95']:>15.4f} {r['whole_map50']:>12.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
