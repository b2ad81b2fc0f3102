"""COCO ``instances_*.json`` -> :class:`ImageRecord` s with contiguous class indices (and the way back)."""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yololab.data.checks import EMPTY_LABELS, check_image_file_info, clean_box, report_frame
from yololab.data.imaging.rawpixels import ImageInfo
from yololab.data.formats.paths import inside_root
from yololab.data.records import ImageRecord
from yololab.data.report import DatasetReport


#: Largest relative difference of the width and height scale factors that still counts as a rescale.


@dataclass
class CocoRecords:
    """Records of a COCO annotation file, class names, index -> original category id, and the file's own
    ground truth for the evaluator (``gt``: every image, annotation, crowd region and area as written)."""

    records: list[ImageRecord]
    names: list[str]
    category_ids: list[int]
    report: DatasetReport = field(default_factory=DatasetReport)
    gt: dict[str, Any] = field(default_factory=dict)

    def to_category_id(self, index: int) -> int:
        """Original COCO category id of contiguous class ``index`` (for writing results back)."""
        return self.category_ids[int(index)]

    @property
    def category_index(self) -> dict[int, int]:
        """Original COCO category id -> contiguous class index."""
        return {c: i for i, c in enumerate(self.category_ids)}


def _eval_annotation(ann: dict, next_id: int) -> dict[str, Any]:
    """What COCOeval reads of a ground-truth annotation (segmentation dropped: boxes are scored).

    A missing ``area`` becomes the box area, a missing ``iscrowd`` 0 and a missing ``id`` a fresh one
    (pycocotools itself would fail on such a file)."""
    x, y, w, h = (float(v) for v in ann["bbox"])
    out = {"id": ann.get("id", next_id), "image_id": ann["image_id"], "category_id": ann["category_id"],
           "bbox": [x, y, w, h], "area": float(ann.get("area", w * h)), "iscrowd": int(ann.get("iscrowd", 0) or 0)}
    if "ignore" in ann:
        out["ignore"] = ann["ignore"]
    return out


def _read_json(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read COCO annotations {path}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not data.get("categories"):
        raise ValueError(f"{path}: not a COCO detection file (needs 'images' and 'categories')")
    return data


def load_coco_names(instances_json: str | os.PathLike) -> list[str]:
    """Class names of a COCO annotation file, in category-id order (the contiguous class order)."""
    cats = sorted(_read_json(instances_json)["categories"], key=lambda c: int(c["id"]))
    return [str(c.get("name", c["id"])) for c in cats]


def _record(path: str, size: tuple[int, int], labels: np.ndarray, image_id: Any, info: ImageInfo | None,
            report: DatasetReport) -> ImageRecord:
    """A record with the checked pixel format (counted in ``report``) when the image was checked."""
    if info is None:
        return ImageRecord(path, size[0], size[1], labels, None, image_id)
    report.add_pixels(info.channels, info.bits)
    return ImageRecord(path, size[0], size[1], labels, None, image_id, info.channels, info.bits, info.dtype)


def load_coco_records(instances_json: str | os.PathLike, image_dir: str | os.PathLike, *,
                      check_images: bool = True, log: bool = True) -> CocoRecords:
    """Load a COCO detection annotation file; boxes become normalised [cls, cx, cy, w, h] float32.

    Categories are sorted by id and mapped to 0..n-1 (``category_ids`` maps back); each record keeps the
    JSON's image id. Training labels leave out crowd boxes, boxes of unknown images/categories and
    invalid boxes (all counted); ``gt`` keeps the file's annotations as written (crowd and area
    included) for the evaluator. Images without annotations are kept as background images. With
    ``check_images`` every file is checked (missing/corrupt ones skipped). A file whose size differs
    from the JSON's by a scale is the annotated image resized: labels are normalised, so they follow it
    (the evaluator maps detections back to the JSON's frame); a different aspect ratio (e.g. a rotated
    file) cannot be matched to the boxes and the image is skipped, named in the report.
    """
    where = str(instances_json)
    data = _read_json(instances_json)
    cats = sorted(data["categories"], key=lambda c: int(c["id"]))
    category_ids = [int(c["id"]) for c in cats]
    names = [str(c.get("name", c["id"])) for c in cats]
    cat_index = {c: i for i, c in enumerate(category_ids)}
    report = DatasetReport()

    images = {}
    for im in data["images"]:
        iid = im.get("id")
        if iid in images:
            report.add("duplicate_image", 1, f"image id {iid!r} of {im.get('file_name')} is already "
                                             f"{images[iid].get('file_name')}'s (that one is kept)")
            continue
        images[iid] = im
    boxes: dict[object, list[list[float]]] = {iid: [] for iid in images}
    eval_anns: list[dict[str, Any]] = []
    for ann in data.get("annotations", []):
        iid, cid = ann.get("image_id"), ann.get("category_id")
        info = images.get(iid)
        if info is None or cid not in cat_index:
            report.add("unknown_reference", 1, f"annotation {ann.get('id')}")
            continue
        name = str(info.get("file_name"))
        try:
            eval_anns.append(_eval_annotation(ann, len(eval_anns) + 1))
            x, y, w, h = eval_anns[-1]["bbox"]
            iw, ih = float(info["width"]), float(info["height"])
        except (KeyError, TypeError, ValueError):
            report.add("malformed_line", 1, f"{name} (annotation {ann.get('id')})")
            continue
        if w <= 0 or h <= 0 or not all(map(math.isfinite, (x, y, w, h))):
            report.add("degenerate_box", 1, name)
            eval_anns.pop()  # an invalid box: dropped from the score (and --save-gt) as from training
            continue
        if eval_anns[-1]["iscrowd"]:
            report.add("crowd_box", 1, name)
            continue
        kind, box = clean_box([cat_index[cid], (x + w / 2) / iw, (y + h / 2) / ih, w / iw, h / ih])
        if box is None:
            report.add(kind, 1, name)
            continue
        if kind == "clipped":
            report.add("clipped", 1, name)
        boxes[iid].append(box)

    image_dir = Path(image_dir)
    infos = list(images.values())
    paths = [str(inside_root(image_dir, str(im.get("file_name", "")), f"{where} file_name")) for im in infos]
    if check_images:
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as ex:
            checks = list(ex.map(check_image_file_info, paths))
    else:  # sizes as listed; pixel formats unknown (None)
        checks = [("ok", None, "") for _ in infos]
    records = []
    for im, path, (status, info, note) in zip(infos, paths, checks):
        size = (int(im["width"]), int(im["height"])) if info is None else (info.width, info.height)
        base = str(im.get("file_name", os.path.basename(path)))
        if status != "ok":
            report.add(status, 1, f"{base} ({note})")
            continue
        listed = (int(im.get("width") or size[0]), int(im.get("height") or size[1]))
        if not report_frame(report, base, size, listed, "JSON"):
            continue
        labels = np.asarray(boxes[im["id"]], dtype=np.float32).reshape(-1, 5) if boxes[im["id"]] else EMPTY_LABELS
        if len(labels):
            _, first = np.unique(labels, axis=0, return_index=True)
            if len(first) < len(labels):
                report.add("duplicate_box", len(labels) - len(first), base)
                labels = labels[np.sort(first)]
        else:
            report.add("empty_label", 1, base)
        records.append(_record(path, size, labels.copy(), im["id"], info, report))
    records.sort(key=lambda r: r.path)
    report.images_listed = len(infos)
    report.images = len(records)
    report.boxes = int(sum(len(r.labels) for r in records))
    report.backgrounds = sum(1 for r in records if not len(r.labels))
    if log:
        report.log(Path(where).name)
    gt = {"images": [{"id": im["id"], "file_name": str(im.get("file_name", "")), "width": im.get("width"),
                      "height": im.get("height")} for im in infos],
          "annotations": eval_anns,
          "categories": [{"id": int(c["id"]), "name": str(c.get("name", c["id"])),
                          "supercategory": str(c.get("supercategory", ""))} for c in cats]}
    return CocoRecords(records, names, category_ids, report, gt)
