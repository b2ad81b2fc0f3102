"""The ``yololab`` command line. Each subcommand lives in its own small function."""

from __future__ import annotations

import argparse
import logging
import sys

from yololab.deploy.cli import add_deploy_commands
from yololab.deploy.runtime.kinds import BACKEND_KINDS
from yololab.eval.cli import add_val_parser
from yololab.errors import ConfigError, EnvError, UserError, print_error
from yololab.experiments.cli import add_compare_parser, add_demo_parser, add_tune_parser
from yololab.train.cli import add_train_parser
from yololab.jsonfile import write_json


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
        raise ConfigError(f"--imgsz {args.imgsz} is not a multiple of the model stride {model.stride}")
    summary = summarize(model, args.imgsz)
    print(format_summary(model, summary))
    if args.json:
        write_json(args.json, summary)
    return 0


def _open_model(path: str, backend: str | None, in_channels: int = 3):
    """``--weights`` as a model for ``yololab val``: a .pt checkpoint (its stem adapted to the data's
    ``in_channels`` where they differ), or an export run by ``backend``."""
    from yololab.deploy.runtime.model_adapter import load_val_model

    return load_val_model(path, kind=backend, in_channels=in_channels)


# -------------------------------------------------------------------- convert
# (here, not in yololab.data: importing that package loads torch, and ``--help`` must stay instant)
def add_convert_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("convert", help="convert a VOC / COCO / YOLO data set into a YOLO or COCO one",
                       description="yololab convert --from voc|coco|yolo --to yolo|coco SRC DST: DST (a new "
                                   "folder) gets images/<split>/ (links, or copies) and labels + data.yaml "
                                   "(yolo) or annotations/instances_<split>.json (coco); the labels are "
                                   "checked and a summary printed.")
    p.add_argument("--from", dest="fmt_from", required=True, choices=("voc", "coco", "yolo"),
                   help="source format: a VOC root or format: voc YAML, a COCO JSON, a YOLO data YAML")
    p.add_argument("--to", dest="fmt_to", required=True, choices=("yolo", "coco"))
    p.add_argument("src", help="the source data set")
    p.add_argument("dst", help="output folder (new or empty)")
    p.add_argument("--image-dir", default=None, help="image folder of a COCO JSON source")
    p.add_argument("--split", default=None, choices=("train", "val", "test"),
                   help="split name of a COCO JSON source (default: train if its file name says so, else val)")
    p.add_argument("--voc-difficult", default=None, choices=("drop", "keep"),
                   help="VOC difficult objects in YOLO output (default: the YAML's voc_difficult, else drop)")
    p.add_argument("--copy", action="store_true", help="copy the images instead of linking them")
    p.set_defaults(func=cmd_convert)
    return p


def cmd_convert(args: argparse.Namespace) -> int:
    from yololab.data.formats.convert import convert

    result = convert(args.fmt_from, args.fmt_to, args.src, args.dst, image_dir=args.image_dir,
                     split=args.split, voc_difficult=args.voc_difficult, copy_images=args.copy)
    for split, report in result.source_reports.items():
        print(report.summary(f"source {split}"))
    for split, report in result.splits.items():
        print(report.summary(f"written {split}"))
    print(f"{args.fmt_to} data set in {result.out}: --data {result.data}"
          + (f" (--image-dir {result.out / 'images' / '<split>'})" if args.fmt_to == "coco" else ""))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with its errors in the same one-line form as every other user error (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="yololab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list model families, scales and backbones")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("info", help="layer summary, parameters and GFLOPs of a model")
    p.add_argument("--model", default="yolov5s", help="yolov5n/s/m/l/x, yolov7-tiny, yolov7, yolov7x")
    p.add_argument("--backbone", default=None, help="backbone name (default: the family's own)")
    p.add_argument("--weights", default=None, help="a checkpoint instead of --model/--backbone")
    p.add_argument("--nc", type=int, default=80, help="number of classes")
    p.add_argument("--imgsz", "--img-size", "--img", dest="imgsz", type=int, default=640,
                   help="square image size for GFLOPs")
    p.add_argument("--json", default=None, help="write the summary as JSON here")
    p.set_defaults(func=_cmd_info)

    add_train_parser(sub)
    add_val_parser(sub, open_model=_open_model, backends=BACKEND_KINDS)

    add_convert_parser(sub)

    add_compare_parser(sub)
    add_tune_parser(sub)
    add_demo_parser(sub)

    add_deploy_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(message)s")
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    """The one error handler of every command: a user error (see :mod:`yololab.errors`) is one line
    ``yololab COMMAND: error: MESSAGE`` on stderr and exit status 2 (its class's ``exit_status``)."""
    import yaml

    from yololab.config import yaml_problem

    try:
        return args.func(args)
    except UserError as err:
        return print_error(args.command, err, err.exit_status)
    except yaml.YAMLError as err:  # a YAML file read without yololab.config.read_yaml_mapping
        return print_error(args.command, ConfigError(f"not valid YAML: {yaml_problem(err)}"))
    except ModuleNotFoundError as err:
        package = (err.name or "?").split(".")[0]
        return print_error(args.command, EnvError(f"this needs the Python package {package!r}, which is not "
                                                  f"installed here"))
    except (OSError, KeyError, ValueError) as err:  # the file system, or a check without its own class
        return print_error(args.command, err)


if __name__ == "__main__":
    sys.exit(main())
