"""``yololab train``: argument parsing and the command function.

Config precedence for ``train``: TrainConfig defaults < the run's saved config.yaml (with ``--resume``)
< ``--config run.yaml`` < flags given on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from yololab.errors import UserError
from yololab.jsonfile import write_json

LOG = logging.getLogger("yololab")
S = argparse.SUPPRESS

#: command-line flag -> TrainConfig field (flags not listed map by replacing '-' with '_')
FLAG_FIELDS = {"no_amp": "amp", "no_progress": "progress", "no_plots": "plots"}


# ---------------------------------------------------------------------- train
def add_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a detector (torchrun --nproc_per_node K -m yololab train ... for DDP)",
                       description="Train a YOLOv5/YOLOv7 detector. Any TrainConfig field may come from "
                                   "--config run.yaml (unknown keys are errors); flags override it.")
    p.add_argument("--config", default=S, help="YAML file of TrainConfig fields")
    p.add_argument("--model", default=S, help="yolov5n/s/m/l/x, yolov7-tiny, yolov7, yolov7x")
    p.add_argument("--backbone", default=S, help="backbone name (default: the family's own)")
    p.add_argument("--data", default=S, help="data YAML (YOLO format) or COCO instances JSON")
    p.add_argument("--image-dir", default=S, help="image folder of a COCO JSON --data")
    p.add_argument("--val-data", default=S, help="COCO JSON of the validation images (with a COCO JSON --data)")
    p.add_argument("--val-image-dir", default=S, help="their image folder (default: --image-dir)")
    p.add_argument("--best-on-train", action="store_true", default=S,
                   help="COCO JSON --data without --val-data: pick best.pt on the training images anyway")
    p.add_argument("--epochs", type=int, default=S)
    p.add_argument("--imgsz", "--img-size", "--img", dest="imgsz", type=int, default=S,
                   help="train/val image size")
    p.add_argument("--batch", "--batch-size", dest="batch", type=int, default=S, help="total batch size")
    p.add_argument("--weights", default=S, help="initial weights: yololab or upstream YOLOv5/YOLOv7 .pt")
    p.add_argument("--pretrained-backbone", nargs="?", const=True, default=S, metavar="PATH",
                   help="ImageNet backbone weights: a local file, or no value for the hub weights")
    p.add_argument("--device", default=S, help="auto (default: GPU 0 if available, else cpu), cpu, 0, or 0,1 "
                                                "(several GPUs: launch with torchrun)")
    p.add_argument("--out", default=S, help="run folder (weights/, results.csv, config.yaml)")
    p.add_argument("--resume", action="store_true", default=S, help="continue from OUT/weights/last.pt")
    p.add_argument("--exist-ok", action="store_true", default=S,
                   help="start over in an --out that holds a run (its last.pt, best.pt and results.csv are replaced)")
    p.add_argument("--freeze", type=int, default=S, help="freeze the first N backbone stages")
    p.add_argument("--backbone-lr-mult", type=float, default=S, help="lr multiplier of the backbone")
    p.add_argument("--workers", type=int, default=S, help="data-loader worker processes")
    p.add_argument("--cache", choices=("auto", "ram", "disk", "none"), default=S,
                   help="decoded, resized training images: auto (default: RAM if it fits, else disk, else none), "
                        "RAM, .npy files shared by every run at this size, or none")
    p.add_argument("--seed", type=int, default=S)
    p.add_argument("--deterministic", action="store_true", default=S, help="deterministic torch kernels")
    p.add_argument("--patience", type=int, default=S, help="early stopping: epochs without improvement")
    p.add_argument("--cos-lr", action="store_true", default=S, help="cosine lr schedule")
    p.add_argument("--assigner", choices=("yolov5", "ota"), default=S, help="target assignment")
    p.add_argument("--sync-bn", action="store_true", default=S, help="SyncBatchNorm under DDP (CUDA)")
    p.add_argument("--no-amp", action="store_false", default=S, help="no mixed precision on CUDA")
    p.add_argument("--nominal-batch", type=int, default=S, help="gradient accumulation target (64)")
    p.add_argument("--grad-clip", type=float, default=S, help="max gradient norm (0: off)")
    p.add_argument("--close-mosaic", type=int, default=S, help="no mosaic for the last N epochs")
    p.add_argument("--val-every", type=int, default=S, help="validate every N epochs (the last always)")
    p.add_argument("--hyp", default=S, metavar="YAML",
                   help="hyperparameter/augmentation overrides (upstream hyp.*.yaml style)")
    p.add_argument("--no-progress", action="store_false", default=S, help="no progress bar")
    p.add_argument("--no-plots", action="store_false", default=S, help="no results.png")
    p.add_argument("--tensorboard", action="store_true", default=S,
                   help="TensorBoard event files in the run folder (pip install -e \".[tracking]\")")
    p.add_argument("--tensorboard-images-every", type=int, default=S, metavar="N",
                   help="val prediction images to TensorBoard every N epochs and at the last (default 10, 0: none)")
    p.add_argument("--mlflow", default=S, metavar="URI",
                   help="log params, metrics and artifacts to this MLflow tracking URI: sqlite:///mlflow.db, "
                        "http://host:5000, or file:./mlruns (on MLflow 3 yololab sets MLFLOW_ALLOW_FILE_STORE=true "
                        "for a file store)")
    p.add_argument("--mlflow-experiment", default=S, help="MLflow experiment name (default yololab)")
    p.add_argument("--json", default=None, help="write the run summary as JSON here")
    p.set_defaults(func=cmd_train)
    return p


def _split_hyp_file(path: str) -> tuple[dict, dict]:
    """An upstream-style hyp YAML -> (hyperparameter overrides, augmentation overrides)."""
    from yololab.config import read_yaml_mapping
    from yololab.data import AugmentConfig
    from yololab.train.hyp import Hyperparameters

    values = read_yaml_mapping(path, "--hyp")
    hyp_keys = {f.name for f in dataclasses.fields(Hyperparameters)}
    aug_keys = {f.name for f in dataclasses.fields(AugmentConfig)}
    unknown = sorted(set(values) - hyp_keys - aug_keys)
    if unknown:
        LOG.warning("--hyp %s: ignoring key(s) yololab does not use: %s", path, ", ".join(unknown))
    return ({k: v for k, v in values.items() if k in hyp_keys}, {k: v for k, v in values.items() if k in aug_keys})


def resolve_train_config(args: argparse.Namespace) -> Any:
    """The TrainConfig of ``yololab train`` (see the module docstring for the precedence)."""
    from yololab.config import from_mapping, load_yaml_config, read_yaml_mapping
    from yololab.train.config import TrainConfig

    flags = {FLAG_FIELDS.get(k, k): v for k, v in vars(args).items()
             if k not in ("command", "func", "verbose", "json", "config", "hyp")}
    file_values: dict[str, Any] = {}
    if "config" in args:
        file_values = dataclasses.asdict(load_yaml_config(TrainConfig, args.config))
        given = read_yaml_mapping(args.config, "--config")
        file_values = {k: file_values[k] for k in given}   # only the keys the file sets
    values: dict[str, Any] = {}
    if flags.get("resume", file_values.get("resume", False)):
        out = flags.get("out", file_values.get("out", TrainConfig.out))
        saved = Path(out) / "config.yaml"
        if saved.is_file():
            values.update(dataclasses.asdict(load_yaml_config(TrainConfig, saved)))
        elif not (Path(out) / "weights" / "last.pt").is_file():
            raise UserError(f"cannot resume: no run in {out} (no config.yaml or weights/last.pt); "
                            f"pass --out of the run to resume")
    values.update(file_values)
    values.update(flags)
    if "hyp" in args:
        hyp, aug = _split_hyp_file(args.hyp)
        values["hyp"] = {**values.get("hyp", {}), **hyp}
        values["augment"] = {**values.get("augment", {}), **aug}
    return from_mapping(TrainConfig, values, "train options")


def cmd_train(args: argparse.Namespace) -> int:
    from yololab.train.distributed import dist_env
    from yololab.train.trainer import train

    if not dist_env().is_main:  # under torchrun only rank 0 logs progress
        logging.getLogger("yololab").setLevel(logging.WARNING)
    summary = train(resolve_train_config(args))  # a NonFiniteLossError exits 1 (see yololab.errors)
    if dist_env().is_main:
        best, final = summary.best_map50_95, summary.final_metrics or {}
        print(f"trained {summary.epochs_run} epoch(s) in {summary.train_seconds:.1f} s "
              f"({summary.images_per_second:.2f} images/s, peak memory {summary.peak_memory_mb:.0f} MB)"
              + (" - stopped early" if summary.stopped_early else ""))
        if final:
            print(f"final: mAP50 {final['map50']:.4f}  mAP50-95 {final['map50_95']:.4f}  mAP75 {final['map75']:.4f}")
        if best is not None:
            print(f"best mAP50-95 {best:.4f}: {summary.best}")
        elif not summary.selects_best:
            print("no best.pt: there were no validation images (--val-data); last.pt is the result")
        print(f"last: {summary.last}")
        if args.json:
            write_json(args.json, summary.record())
    return 0
