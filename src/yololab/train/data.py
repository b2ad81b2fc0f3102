"""The training run's data: train/val records and class names from a data YAML or COCO JSON files."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from yololab.data import DatasetReport, ImageRecord, load_coco_records, load_data_config, load_split

LOG = logging.getLogger("yololab")


@dataclass
class TrainData:
    train: list[ImageRecord]
    val: list[ImageRecord]
    names: list[str]
    reports: dict[str, DatasetReport]

    @property
    def nc(self) -> int:
        return len(self.names)

    def save_report(self, path: str | Path) -> None:
        """Counts of what the dataset checks found, per split, as JSON."""
        out = {split: dataclasses.asdict(rep) for split, rep in self.reports.items()}
        Path(path).write_text(json.dumps(out, indent=2))


def load_train_data(data: str, image_dir: str | None = None, val_data: str | None = None,
                    val_image_dir: str | None = None, log: bool = True) -> TrainData:
    """``data`` is a YOLO data YAML (train/val splits) or a COCO instances JSON of the training images
    (``image_dir`` holds them); the validation JSON is ``val_data`` (images in ``val_image_dir``,
    default ``image_dir``), or the training JSON itself when none is given (logged)."""
    if not data:
        raise ValueError("no dataset given: set --data to a data YAML or a COCO instances JSON")
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {data} does not exist")
    if path.suffix.lower() == ".json":
        if not image_dir:
            raise ValueError(f"{data} is a COCO JSON: also give image_dir (the folder of its images)")
        train = load_coco_records(path, image_dir, log=log)
        if val_data:
            val = load_coco_records(val_data, val_image_dir or image_dir, log=log)
            if val.names != train.names:
                raise ValueError(f"{val_data} and {data} have different categories")
        else:
            LOG.warning("no val_data given: validating on the training annotations %s", data)
            val = train
        if not train.records:
            raise ValueError(f"{data}: no usable training images")
        return TrainData(train.records, val.records, train.names, {"train": train.report, "val": val.report})
    cfg = load_data_config(path)
    train, train_report = load_split(cfg, "train", log=log)
    val, val_report = load_split(cfg, "val", log=log)
    if not train:
        raise ValueError(f"{data}: the train split has no usable images")
    if not val:
        raise ValueError(f"{data}: the val split has no usable images")
    return TrainData(train, val, list(cfg.names), {"train": train_report, "val": val_report})
