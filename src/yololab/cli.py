"""The ``yololab`` command line. Each subcommand lives in its own small function."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from yololab.data.cli import add_convert_parser
from yololab.deploy.cli import add_deploy_commands
from yololab.deploy.kinds import BACKEND_KINDS
from yololab.eval.cli import add_val_parser
from yololab.experiments.cli import add_compare_parser, add_demo_parser
from yololab.train.cli import add_train_parser


def _cmd_models(args: argparse.Namespace) -> int:
    from yololab.backbones.catalog import BUILTIN_BACKBONES
    from yololab.models.zoo import MODEL_VARIANTS

    print("Models (family/scale, own backbone, upstream config):")
    for v in MODEL_VARIANTS.values():
        print(f"  {v.name:<13} backbone={v.native_backbone:<11} {v.upstream_config}")
    print("\nBackbones (--backbone):")
    for name, text in BUILTIN_BACKBONES.items():
        print(f"  {name:<20} {text}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from yololab.models import build_model
    from yololab.models.checkpoints import load_model
    from yololab.models.summary import format_summary, summarize

    if args.weights:
        model = load_model(args.weights)
    else:
        model = build_model(args.model, args.backbone, args.nc)
    if args.imgsz % model.stride:
        raise SystemExit(f"--imgsz {args.imgsz} is not a multiple of the model stride {model.stride}")
    summary = summarize(model, args.imgsz)
    print(format_summary(model, summary))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


def _open_model(path: str, backend: str | None):
    """``--weights`` as a model for ``yololab val``: a .pt checkpoint, or an export run by ``backend``."""
    from yololab.deploy.model_adapter import load_val_model

    return load_val_model(path, kind=backend)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yololab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list model families, scales and backbones")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("info", help="layer summary, parameters and GFLOPs of a model")
    p.add_argument("--model", default="yolov5s", help="yolov5n/s/m/l/x, yolov7-tiny, yolov7, yolov7x")
    p.add_argument("--backbone", default=None, help="backbone name (default: the family's own)")
    p.add_argument("--weights", default=None, help="a checkpoint instead of --model/--backbone")
    p.add_argument("--nc", type=int, default=80, help="number of classes")
    p.add_argument("--imgsz", type=int, default=640, help="square image size for GFLOPs")
    p.add_argument("--json", default=None, help="write the summary as JSON here")
    p.set_defaults(func=_cmd_info)

    add_train_parser(sub)
    add_val_parser(sub, open_model=_open_model, backends=BACKEND_KINDS)

    add_convert_parser(sub)

    add_compare_parser(sub)
    add_demo_parser(sub)

    add_deploy_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"yololab {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
