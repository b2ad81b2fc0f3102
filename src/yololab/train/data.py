"""The training run's data: train/val records and class names from a data YAML or COCO JSON files."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yololab.data import DatasetReport, ImageRecord
from yololab.data.imaging.pixels import PixelSpec
from yololab.data.source import is_coco_json, open_split
from yololab.data.tiling.tiles import TileSettings
from yololab.jsonfile import write_json

LOG = logging.getLogger("yololab")


@dataclass
class TrainData:
    """Train/val records and names; for a COCO JSON val set also its category ids and own ground truth
    (what :func:`yololab.eval.validate.validate` scores against). ``val_is_train``: no separate
    validation images were given, so the val metrics are measured on the training images."""

    train: list[ImageRecord]
    val: list[ImageRecord]
    names: list[str]
    reports: dict[str, DatasetReport]
    val_category_ids: list[int] | None = None
    val_gt: dict[str, Any] | None = None
    val_is_train: bool = False
    pixels: PixelSpec = PixelSpec()  # the data YAML's channels and normalisation (default for COCO JSON)
    tiles: TileSettings | None = None  # the data YAML's ``tiles:`` (a train config's own wins)

    @property
    def nc(self) -> int:
        return len(self.names)

    def save_report(self, path: str | Path, root: str | Path | None = None) -> None:
        """Counts of what the dataset checks found, per split, as JSON (inside ``root``)."""
        out = {split: dataclasses.asdict(rep) for split, rep in self.reports.items()}
        write_json(path, out, root)


def load_train_data(data: str, image_dir: str | None = None, val_data: str | None = None,
                    val_image_dir: str | None = None, log: bool = True) -> TrainData:
    """``data`` is a YOLO data YAML or a VOC data set (train/val splits; VOC is scored against its own
    ground truth, difficult objects ignored) or a COCO instances JSON of the training images
    (``image_dir`` holds them); the validation JSON is ``val_data`` (images in ``val_image_dir``,
    default ``image_dir``), or the training JSON itself when none is given (logged; ``val_is_train``).
    A COCO JSON val set is scored against its own annotations (crowd regions and areas as written)."""
    path = Path(data) if data else None
    if path is not None and is_coco_json(path):
        train = open_split(path, "train", image_dir, log=log)
        if val_data:
            val = open_split(val_data, "val", val_image_dir or image_dir, log=log)
            if val.names != train.names:
                raise ValueError(f"{val_data} and {data} have different categories")
        else:
            LOG.warning("no val_data given: the val metrics are measured on the training images of %s", data)
            val = train
        if not train.records:
            raise ValueError(f"{data}: no usable training images")
        if val.category_ids != train.category_ids:
            raise ValueError(f"{val_data} and {data} have different category ids")
        return TrainData(train.records, val.records, train.names, {"train": train.report, "val": val.report},
                         val.category_ids, val.coco_gt, val is train)
    train = open_split(data, "train", log=log)
    val = open_split(data, "val", log=log)
    if not train.records:
        raise ValueError(f"{data}: the train split has no usable images")
    if not val.records:
        raise ValueError(f"{data}: the val split has no usable images")
    if val.names != train.names:
        raise ValueError(f"{data}: the train and val splits have different class names")
    return TrainData(train.records, val.records, train.names, {"train": train.report, "val": val.report},
                     val.category_ids, val.coco_gt, pixels=train.pixels,
                     tiles=train.tiles)
