"""COCO ``instances_*.json`` -> :class:`ImageRecord` s with contiguous class indices (and the way back)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yololab.data.checks import EMPTY_LABELS, clean_box
from yololab.data.images import ImageCheckError, check_image
from yololab.data.records import ImageRecord
from yololab.data.report import DatasetReport


@dataclass
class CocoRecords:
    """Records of a COCO annotation file, class names, and index -> original category id."""

    records: list[ImageRecord]
    names: list[str]
    category_ids: list[int]
    report: DatasetReport = field(default_factory=DatasetReport)

    def to_category_id(self, index: int) -> int:
        """Original COCO category id of contiguous class ``index`` (for writing results back)."""
        return self.category_ids[int(index)]

    @property
    def category_index(self) -> dict[int, int]:
        """Original COCO category id -> contiguous class index."""
        return {c: i for i, c in enumerate(self.category_ids)}


def _check(path: str) -> tuple[str, tuple[int, int] | None, str]:
    if not os.path.isfile(path):
        return "missing_image", None, "image file does not exist"
    try:
        return "ok", check_image(path), ""
    except ImageCheckError as e:
        return e.kind, None, str(e)


def load_coco_records(instances_json: str | os.PathLike, image_dir: str | os.PathLike, *,
                      check_images: bool = True, log: bool = True) -> CocoRecords:
    """Load a COCO detection annotation file; boxes become normalised [cls, cx, cy, w, h] float32.

    Categories are sorted by id and mapped to 0..n-1 (``category_ids`` maps back). Crowd boxes, boxes of
    unknown images/categories and invalid boxes are skipped and counted; images without annotations are
    kept as background images. With ``check_images`` every file is checked (missing/corrupt ones skipped).
    """
    where = str(instances_json)
    try:
        with open(instances_json, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read COCO annotations {where}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not data.get("categories"):
        raise ValueError(f"{where}: not a COCO detection file (needs 'images' and 'categories')")
    cats = sorted(data["categories"], key=lambda c: int(c["id"]))
    category_ids = [int(c["id"]) for c in cats]
    names = [str(c.get("name", c["id"])) for c in cats]
    cat_index = {c: i for i, c in enumerate(category_ids)}
    report = DatasetReport()

    images = {}
    for im in data["images"]:
        iid = im.get("id")
        if iid in images:
            report.add("duplicate_image", 1, str(im.get("file_name")))
            continue
        images[iid] = im
    boxes: dict[object, list[list[float]]] = {iid: [] for iid in images}
    for ann in data.get("annotations", []):
        iid, cid = ann.get("image_id"), ann.get("category_id")
        info = images.get(iid)
        if info is None or cid not in cat_index:
            report.add("unknown_reference", 1, f"annotation {ann.get('id')}")
            continue
        name = str(info.get("file_name"))
        if ann.get("iscrowd", 0):
            report.add("crowd_box", 1, name)
            continue
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
            iw, ih = float(info["width"]), float(info["height"])
        except (KeyError, TypeError, ValueError):
            report.add("malformed_line", 1, f"{name} (annotation {ann.get('id')})")
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
    paths = [str(image_dir / str(im.get("file_name", ""))) for im in infos]
    if check_images:
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as ex:
            checks = list(ex.map(_check, paths))
    else:
        checks = [("ok", (int(im["width"]), int(im["height"])), "") for im in infos]
    records = []
    for im, path, (status, size, note) in zip(infos, paths, checks):
        base = os.path.basename(path)
        if status != "ok":
            report.add(status, 1, f"{base} ({note})")
            continue
        if size != (int(im["width"]), int(im["height"])):
            report.add("size_mismatch", 1, f"{base} ({size[0]}x{size[1]} vs {im['width']}x{im['height']})")
        labels = np.asarray(boxes[im["id"]], dtype=np.float32).reshape(-1, 5) if boxes[im["id"]] else EMPTY_LABELS
        if len(labels):
            _, first = np.unique(labels, axis=0, return_index=True)
            if len(first) < len(labels):
                report.add("duplicate_box", len(labels) - len(first), base)
                labels = labels[np.sort(first)]
        else:
            report.add("empty_label", 1, base)
        records.append(ImageRecord(path, size[0], size[1], labels.copy(), None, im["id"]))
    records.sort(key=lambda r: r.path)
    report.images_listed = len(infos)
    report.images = len(records)
    report.boxes = int(sum(len(r.labels) for r in records))
    report.backgrounds = sum(1 for r in records if not len(r.labels))
    if log:
        report.log(Path(where).name)
    return CocoRecords(records, names, category_ids, report)
