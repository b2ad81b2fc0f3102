"""``yololab val``: COCO-protocol mAP of a model on a data split, or of any tool's COCO results file.

Opening ``--weights`` as a model (a .pt, an ONNX / OpenVINO / TorchScript export) is the top-level
CLI's job: it passes ``open_model`` in, so this layer never imports the deploy layer. Nothing here
imports torch until a command runs, so ``yololab --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from yololab.errors import UserError, print_error
from yololab.jsonfile import read_json, write_json

LOG = logging.getLogger("yololab")

#: ``open_model(path, backend)`` -> a model fitting :class:`yololab.eval.protocol.ValModel`
OpenModel = Callable[[str, "str | None"], Any]


def add_val_parser(sub: argparse._SubParsersAction, open_model: OpenModel,
                   backends: Sequence[str] = ()) -> argparse.ArgumentParser:
    p = sub.add_parser("val", help="COCO mAP of a checkpoint on a dataset split, or of a results JSON",
                       description="yololab val --weights W --data D [...]  or  "
                                   "yololab val --gt GT.json --dt DT.json")
    p.add_argument("--weights", default=None, help="yololab or upstream YOLOv5/YOLOv7 .pt, or an export")
    p.add_argument("--data", default=None, help="data YAML, or a COCO instances JSON (with --image-dir)")
    p.add_argument("--image-dir", default=None, help="image folder of a COCO JSON --data")
    p.add_argument("--split", default="val", choices=("train", "val", "test"), help="split of a data YAML")
    p.add_argument("--imgsz", "--img-size", "--img", dest="imgsz", type=int, default=640,
                   help="inference size (default 640)")
    p.add_argument("--batch", "--batch-size", dest="batch", type=int, default=16)
    p.add_argument("--conf", type=float, default=0.001, help="confidence threshold")
    p.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold")
    p.add_argument("--max-det", type=int, default=300)
    p.add_argument("--device", default="auto", help="auto (default: GPU 0 if available, else CPU), cpu, or a GPU index")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-fuse", action="store_true", help="validate the unfused model")
    p.add_argument("--upstream-rect", action="store_true",
                   help="upstream val.py's batch-dependent rect batches (every image of a batch padded to the "
                        "batch's most extreme aspect ratio), to reproduce upstream's figures; by default every "
                        "image gets its own letterbox shape, so scores do not depend on --batch")
    p.add_argument("--backend", default=None, choices=tuple(backends) or None,
                   help="runtime for an exported --weights (default: from the file; openvino-bf16: bf16 on AMX CPUs)")
    p.add_argument("--gt", default=None, help="COCO ground-truth JSON (with --dt: score a results file)")
    p.add_argument("--dt", default=None, help="COCO results JSON (with --gt)")
    p.add_argument("--dt-ref", default=None, metavar="JSON",
                   help="a reference results JSON on the same --gt: paired bootstrap of the mAP difference")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help="image-level bootstrap with N resamples: 95%% CIs (and with --dt-ref: delta, p-value); "
                        "default 1000 with --dt-ref")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (and of --corruption)")
    p.add_argument("--corruption", default=None, metavar="NAME|all",
                   help="robustness (COCO-C): score under corruptions (all: the 15 of the benchmark; a family, "
                        "names, comma-separated), printing mAP per corruption and severity, mPC and rPC")
    p.add_argument("--severity", default="all", metavar="1-5|all", help="severities of --corruption (default all)")
    p.add_argument("--json", default=None, help="write the metrics as JSON here")
    p.add_argument("--save-dt", default=None, metavar="FILE", help="write the detections as a COCO results JSON")
    p.add_argument("--save-gt", default=None, metavar="FILE",
                   help="write the ground truth scored against as a COCO JSON (for --gt/--dt/--dt-ref later)")
    p.add_argument("--per-class", action="store_true", help="print AP per class")
    p.add_argument("--metric", choices=("coco", "voc07", "voc12"), default="coco",
                   help="also report VOC AP50 (voc07: 11-point, voc12: all-point interpolation); COCO always")
    p.add_argument("--plots", default=None, metavar="DIR",
                   help="error analysis into DIR: confusion matrix, PR and F1 curves, TIDE error breakdown")
    p.set_defaults(func=lambda args: cmd_val(args, open_model))
    return p


def _write_json(path: str, obj: Any) -> None:
    write_json(path, obj)


def cmd_val(args: argparse.Namespace, open_model: OpenModel) -> int:
    import yaml

    from yololab.models.checkpoints import CheckpointError

    try:
        if args.gt or args.dt:
            return _score_files(args)
        return _validate_model(args, open_model)
    except (UserError, CheckpointError, OSError, yaml.YAMLError, RuntimeError) as err:
        return print_error("val", err)


def _score_files(args: argparse.Namespace) -> int:
    from yololab.eval.coco import evaluate_coco, load_json
    from yololab.eval.results import CocoMetrics
    from yololab.eval.validate import format_metrics

    if not (args.gt and args.dt):
        raise UserError("--gt and --dt go together (ground truth and results JSON)")
    if args.weights or args.data:
        raise UserError("give either --gt/--dt or --weights/--data, not both")
    for path in (args.gt, args.dt, args.dt_ref):
        if path and not Path(path).is_file():
            raise FileNotFoundError(f"{path} does not exist")
    if args.bootstrap is not None and args.bootstrap < 1:
        raise UserError(f"--bootstrap {args.bootstrap}: the number of resamples must be >= 1")
    try:
        gt, dt = load_json(Path(args.gt)), load_json(Path(args.dt))  # read once: scoring, extras, bootstrap
        metrics = CocoMetrics.from_coco(evaluate_coco(gt, dt))
    except json.JSONDecodeError as err:
        raise UserError(f"not valid JSON: {err}") from None
    except (KeyError, TypeError) as err:
        raise UserError(f"not a COCO ground-truth/results pair: {err!r}") from None
    except ValueError as err:
        raise UserError(f"--dt {args.dt} against --gt {args.gt}: {err}") from None
    print(format_metrics(metrics, per_class=args.per_class))
    out = metrics.as_dict()
    out.update(_extras(args, gt, dt))
    if args.dt_ref or args.bootstrap:
        out.update(_bootstrap(args, gt, dt))
    if args.json:
        _write_json(args.json, out)
    return 0


def _bootstrap(args: argparse.Namespace, gt: dict, dt: list[dict]) -> dict[str, Any]:
    """``--bootstrap N`` / ``--dt-ref``: image-level (paired) bootstrap, printed and returned for --json."""
    from yololab.eval.bootstrap import bootstrap_map, format_bootstrap

    dt_ref = read_json(args.dt_ref) if args.dt_ref else None
    result = bootstrap_map(gt, dt, dt_ref, n=args.bootstrap or 1000, seed=args.seed)
    print(format_bootstrap(result))
    return result


def _extras(args: argparse.Namespace, gt: dict, dt: list[dict]) -> dict[str, Any]:
    """What ``--metric voc07|voc12`` and ``--plots DIR`` add: printed, and returned for ``--json``."""
    from yololab.eval.analysis import analyze, voc_ap

    extra: dict[str, Any] = {}
    if args.metric != "coco":
        voc = voc_ap(gt, dt, args.metric)
        extra[f"{args.metric}_map50"] = voc["map"]
        extra[f"{args.metric}_per_class"] = voc["per_class"]
        print(f"{args.metric.upper()} mAP50 ({'11-point' if args.metric == 'voc07' else 'all-point'} "
              f"interpolation): {voc['map']:.4f}")
    if args.plots:
        summary = analyze(gt, dt, Path(args.plots))
        extra["analysis"] = {k: v for k, v in summary.items() if k != "files"}
        errors = ", ".join(f"{k} {v:.2f}" for k, v in summary["errors"].items())
        print(f"best F1 {summary['best_f1']:.3f} at conf {summary['best_conf']:.3f}; "
              f"mAP50 points lost to (TIDE): {errors}")
        print(f"analysis plots: {args.plots}")
    return extra


def _validate_model(args: argparse.Namespace, open_model: OpenModel) -> int:
    from yololab.data.source import open_split
    from yololab.device import select_device
    from yololab.eval.validate import ValSettings, format_metrics, validate

    if not (args.weights and args.data):
        raise UserError("give --weights and --data (or --gt and --dt)")
    if args.dt_ref:
        raise UserError("--dt-ref compares two results files: use it with --gt and --dt "
                        "(write each model's results with --save-dt first)")
    device = select_device(args.device)
    LOG.info("device: %s", device)
    data = open_split(args.data, args.split, args.image_dir)
    model = open_model(args.weights, args.backend).float()
    if not args.no_fuse:
        model.fuse()
    model.to(device).channels_last().eval()
    if args.imgsz % model.stride:
        raise UserError(f"--imgsz {args.imgsz} is not a multiple of the model stride {model.stride}")
    settings = ValSettings(image_size=args.imgsz, batch_size=args.batch, conf_thres=args.conf,
                           iou_thres=args.iou, max_det=args.max_det, workers=args.workers,
                           rect_batches=args.upstream_rect)
    if args.corruption:
        from yololab.eval.robustness import run_val_corruption
        return run_val_corruption(args, model, data, settings, device)
    result = validate(model, data.records, data.names, settings, device, category_map=data.category_ids,
                      gt=data.coco_gt)
    print(format_metrics(result.metrics, per_class=args.per_class, speed=result.speed_ms_per_image))
    print(f"{len(data.records)} images in {result.seconds:.1f} s")
    if args.save_dt:
        _write_json(args.save_dt, result.detections)
    if args.save_gt:
        _write_json(args.save_gt, result.ground_truth)
    out = result.summary()
    out.update(_extras(args, result.ground_truth, result.detections))
    if args.bootstrap:
        out.update(_bootstrap(args, result.ground_truth, result.detections))
    if args.json:
        out.update(weights=str(args.weights), data=str(args.data), split=args.split, imgsz=args.imgsz,
                   batch=args.batch, conf=args.conf, iou=args.iou, upstream_rect=args.upstream_rect)
        _write_json(args.json, out)
    return 0
