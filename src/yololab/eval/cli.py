"""``yololab val``: COCO-protocol mAP of a model on a data split, or of any tool's COCO results file.

The command line is read once, in :func:`cmd_val`, into a typed :class:`~yololab.eval.request.ValRequest`;
below that only its typed values travel.

Opening ``--weights`` as a model (a .pt, an ONNX / OpenVINO / TorchScript export) is the top-level
CLI's job: it passes ``open_model`` in, so this layer never imports the deploy layer. Nothing here
imports torch until a command runs, so ``yololab --help`` stays instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yololab.device import DEFAULT_DEVICE
from yololab.errors import UserError
from yololab.eval.slicing import add_slice_arguments
from yololab.jsonfile import write_json

if TYPE_CHECKING:
    from yololab.eval.request import ValRequest

LOG = logging.getLogger("yololab")

#: ``open_model(path, backend, in_channels)`` -> a model fitting :class:`yololab.eval.protocol.ValModel`;
#: ``in_channels``: the data's, a checkpoint of another count gets its stem adapted
OpenModel = Callable[[str, "str | None", int], Any]


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
    p.add_argument("--max-det", type=int, default=300, help="detections kept per image (per slice with --slice)")
    p.add_argument("--coco-max-det", type=int, default=100,
                   help="detections per image the COCO protocol scores (COCO: 100; VisDrone's tools: 500)")
    p.add_argument("--device", default=DEFAULT_DEVICE, help="auto (default: GPU 0 if available, else CPU), cpu, or a GPU index")
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
    add_slice_arguments(p, "val")
    p.set_defaults(func=lambda args: cmd_val(args, open_model))
    return p


def _opt_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def cmd_val(args: argparse.Namespace, open_model: OpenModel) -> int:
    from yololab.eval.extras import ExtraOptions
    from yololab.eval.request import ModelRun, Outputs, ResultsFiles, ValRequest
    from yololab.eval.slicing import slice_settings
    from yololab.eval.robustness import corruption_request
    from yololab.eval.validate import ValSettings

    slicing = slice_settings(args, "val")
    if slicing is not None and (args.gt or args.dt):
        raise UserError("--slice predicts with --weights/--data; --gt/--dt score a results file as it is")
    if slicing is not None and args.corruption:
        raise UserError("--corruption scores whole images; give --slice or --corruption, not both")
    request = ValRequest(  # the one place that reads ``args``
        files=ResultsFiles(_opt_path(args.gt), _opt_path(args.dt), args.coco_max_det) if args.gt or args.dt else None,
        model=ModelRun(
            args.weights, args.data, split=args.split, image_dir=args.image_dir, backend=args.backend,
            fuse=not args.no_fuse, device=args.device, slicing=slicing,
            settings=ValSettings(image_size=args.imgsz, batch_size=args.batch, conf_thres=args.conf,
                                 iou_thres=args.iou, max_det=args.max_det, workers=args.workers,
                                 rect_batches=args.upstream_rect, coco_max_det=args.coco_max_det),
        ) if args.weights or args.data else None,
        extras=ExtraOptions(metric=args.metric, plots=_opt_path(args.plots), bootstrap=args.bootstrap,
                            dt_ref=_opt_path(args.dt_ref), seed=args.seed),
        outputs=Outputs(json=_opt_path(args.json), save_dt=_opt_path(args.save_dt),
                        save_gt=_opt_path(args.save_gt), per_class=args.per_class),
        robustness=corruption_request(args.corruption, args.severity, args.seed) if args.corruption else None,
    )
    return _score_files(request) if request.files else _validate_model(request, open_model)


def _with_extras(request: ValRequest, out: dict[str, Any], gt: dict, dt: list[dict]) -> dict[str, Any]:
    """Add the extras the request asks for to ``out`` (printing their lines); returns ``out``."""
    from yololab.eval.extras import score_extras

    extra = score_extras(gt, dt, request.extras)
    for line in extra.lines:
        print(line)
    out.update(extra.values)
    return out


def _score_files(request: ValRequest) -> int:
    from yololab.eval.coco import load_json, score_coco
    from yololab.eval.validate import format_metrics

    files = request.files
    for path in (files.gt, files.dt, request.extras.dt_ref):
        if path and not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
    try:
        gt, dt = load_json(files.gt), load_json(files.dt)  # read once: scoring, extras, bootstrap
        metrics = score_coco(gt, dt, max_dets=files.coco_max_det)
    except json.JSONDecodeError as err:
        raise UserError(f"not valid JSON: {err}") from None
    except (KeyError, TypeError) as err:
        raise UserError(f"not a COCO ground-truth/results pair: {err!r}") from None
    except ValueError as err:
        raise UserError(f"--dt {files.dt} against --gt {files.gt}: {err}") from None
    print(format_metrics(metrics, per_class=request.outputs.per_class))
    out = _with_extras(request, metrics.as_dict(), gt, dt)
    if request.outputs.json:
        write_json(request.outputs.json, out)
    return 0


def _validate_model(request: ValRequest, open_model: OpenModel) -> int:
    from yololab.data.imaging.pixels import checkpoint_pixels, model_pixels
    from yololab.data.source import open_split
    from yololab.device import select_device
    from yololab.eval.validate import format_metrics, validate

    run, outputs, settings = request.model, request.outputs, request.model.settings
    device = select_device(run.device)
    LOG.info("device: %s", device)
    data = open_split(run.data, run.split, run.image_dir)
    pixels = model_pixels(data.pixels, checkpoint_pixels(run.weights), str(run.weights))
    if not pixels.is_default:
        settings = dataclasses.replace(settings, pixels=pixels)
    model = open_model(run.weights, run.backend, data.channels).float()
    if run.fuse:
        model.fuse()
    model.to(device).channels_last().eval()
    if settings.image_size % model.stride:
        raise UserError(f"--imgsz {settings.image_size} is not a multiple of the model stride {model.stride}")
    if request.robustness is not None:
        from yololab.eval.robustness import run_val_corruption
        return run_val_corruption(request, model, data, device)
    if run.slicing is not None:  # sliced inference, scored on the full images
        from yololab.eval.sliced_val import validate_sliced

        result = validate_sliced(model, data.records, data.names, settings, run.slicing, device,
                                 category_map=data.category_ids, gt=data.coco_gt)
    else:
        result = validate(model, data.records, data.names, settings, device, category_map=data.category_ids,
                          gt=data.coco_gt)
    print(format_metrics(result.metrics, per_class=outputs.per_class, speed=result.speed_ms_per_image))
    print(f"{len(data.records)} images in {result.seconds:.1f} s")
    if outputs.save_dt:
        write_json(outputs.save_dt, result.detections)
    if outputs.save_gt:
        write_json(outputs.save_gt, result.ground_truth)
    out = _with_extras(request, result.summary(), result.ground_truth, result.detections)
    if outputs.json:
        out.update(weights=str(run.weights), data=str(run.data), split=run.split, imgsz=settings.image_size,
                   batch=settings.batch_size, conf=settings.conf_thres, iou=settings.iou_thres,
                   upstream_rect=settings.rect_batches,
                   slicing=None if run.slicing is None else dataclasses.asdict(run.slicing))
        write_json(outputs.json, out)
    return 0
