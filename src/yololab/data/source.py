"""One place that decides what a ``--data`` argument is: a YOLO data YAML, a COCO instances JSON, or a
Pascal VOC data set (a VOC root folder or a data YAML with ``format: voc``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yololab.data.formats.coco_format import load_coco_names, load_coco_records
from yololab.data.imaging.pixels import PixelSpec
from yololab.data.records import ImageRecord, load_split
from yololab.data.report import DatasetReport
from yololab.data.tiling.tiles import TileSettings
from yololab.data.formats.voc_format import is_voc_data, load_voc_config, load_voc_split
from yololab.data.formats.yolo_format import load_data_config
from yololab.errors import UserError

PathLike = str | os.PathLike


@dataclass
class DataSplit:
    """The usable images of one split, its class names and, for COCO JSON, the data set's identity.

    ``category_ids[i]`` is the JSON's category id of class index ``i`` (None for YOLO format, whose
    categories are the indices 0..N-1 by convention; 0..N-1 for VOC); ``coco_gt`` is the annotation
    file's ground truth as the evaluator needs it (image ids, crowd regions and
    areas as written; for VOC built from the XMLs with difficult objects as crowd regions; None for YOLO
    format, whose ground truth is built from the labels). ``pixels``: the data set's channel count and
    normalisation (the data YAML's; the default, 3 channels and dtype, for a COCO JSON or VOC folder).
    """

    records: list[ImageRecord]
    names: list[str]
    category_ids: list[int] | None = None
    report: DatasetReport = field(default_factory=DatasetReport)
    source: str = ""
    split: str = "val"
    coco_gt: dict[str, Any] | None = None
    pixels: PixelSpec = PixelSpec()
    tiles: TileSettings | None = None  # a data YAML's ``tiles:`` (tiled training)

    @property
    def channels(self) -> int:
        """Channels per image, what the model's input takes."""
        return self.pixels.channels


def is_coco_json(data: PathLike) -> bool:
    """A ``--data`` value naming a COCO instances JSON (by suffix) rather than a data YAML."""
    return Path(data).suffix.lower() == ".json"


def open_split(data: PathLike, split: str = "val", image_dir: PathLike | None = None, *,
               log: bool = True) -> DataSplit:
    """Records of ``split`` of a data YAML or VOC data set, or all images of a COCO JSON (``image_dir``
    holds them)."""
    if not data:
        raise UserError("no dataset given: set --data to a data YAML, a COCO instances JSON or a VOC folder")
    path = Path(data)
    if is_voc_data(path):
        if image_dir:
            raise UserError(f"--image-dir is for a COCO JSON --data; {data} is a VOC data set (images in JPEGImages/)")
        voc_cfg = load_voc_config(path)
        voc = load_voc_split(voc_cfg, split, log=log)
        return DataSplit(voc.records, voc.names, list(range(len(voc.names))), voc.report, str(path), split,
                         coco_gt=voc.gt, pixels=voc_cfg.pixels)
    if path.is_dir():
        raise FileNotFoundError(f"--data {data} is a folder but not a VOC root (expected Annotations/ and "
                                f"ImageSets/Main/ in it)")
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {data} does not exist")
    if is_coco_json(path):
        if not image_dir:
            raise UserError(f"--data {data} is a COCO JSON: also give --image-dir (the folder of its images)")
        coco = load_coco_records(path, image_dir, log=log)
        return DataSplit(coco.records, coco.names, coco.category_ids, coco.report, str(path), split,
                         coco_gt=coco.gt)
    cfg = load_data_config(path)
    records, report = load_split(cfg, split, log=log)
    return DataSplit(records, list(cfg.names), None, report, str(path), split, pixels=cfg.pixels,
                     tiles=cfg.tiles)


def dataset_pixels(data: PathLike) -> PixelSpec:
    """The :class:`PixelSpec` of a data YAML (YOLO or VOC), without loading any split; the default for a
    COCO JSON or a VOC folder."""
    path = Path(data)
    if is_voc_data(path):
        return load_voc_config(path).pixels
    if is_coco_json(path):
        return PixelSpec()
    return load_data_config(path).pixels


def dataset_names(data: PathLike) -> list[str]:
    """The class names of a data YAML, VOC data set or COCO JSON, without loading any split."""
    path = Path(data)
    if is_voc_data(path):
        return load_voc_config(path).class_names()
    if is_coco_json(path):
        return load_coco_names(path)
    return list(load_data_config(path).names)


def split_names(data: PathLike) -> list[str]:
    """The splits ('train', 'val', 'test') a data YAML or VOC data set defines; a COCO JSON is one split."""
    path = Path(data)
    if is_voc_data(path):
        return [s for s in ("train", "val", "test") if s in load_voc_config(path).splits]
    if is_coco_json(path):
        return ["val"]
    cfg = load_data_config(path)
    return [s for s in ("train", "val", "test") if getattr(cfg, s) is not None]
