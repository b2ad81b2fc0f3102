"""``yololab convert``: argument parsing and the command function (the work is in data/convert.py)."""

from __future__ import annotations

import argparse

from yololab.errors import print_error


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
    from yololab.data.convert import convert

    try:
        result = convert(args.fmt_from, args.fmt_to, args.src, args.dst, image_dir=args.image_dir,
                         split=args.split, voc_difficult=args.voc_difficult, copy_images=args.copy)
    except (ValueError, OSError, KeyError) as err:
        return print_error("convert", err)
    for split, report in result.source_reports.items():
        print(report.summary(f"source {split}"))
    for split, report in result.splits.items():
        print(report.summary(f"written {split}"))
    print(f"{args.fmt_to} data set in {result.out}: --data {result.data}"
          + (f" (--image-dir {result.out / 'images' / '<split>'})" if args.fmt_to == "coco" else ""))
    return 0
