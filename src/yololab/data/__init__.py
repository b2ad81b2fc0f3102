"""Datasets: YOLO/COCO formats, checked and cached records, augmentation, loaders, synthetic data."""

from yololab.data.augment import AugmentConfig, letterbox, mosaic4, random_perspective
from yololab.data.coco_format import CocoRecords, load_coco_records
from yololab.data.dataset import DetectionDataset, collate_fn, create_dataloader
from yololab.data.images import read_image
from yololab.data.pixels import PixelSpec, normalize_batch
from yololab.data.records import ImageRecord, load_records, load_split
from yololab.data.report import DatasetReport
from yololab.data.synthetic import make_synthetic_dataset, make_synthetic_pixels_dataset
from yololab.data.tiled import TiledDataset
from yololab.data.tiles import TileSettings
from yololab.data.yolo_format import DataConfig, find_images, image_to_label_path, load_data_config

__all__ = [
    "AugmentConfig",
    "CocoRecords",
    "DataConfig",
    "DatasetReport",
    "DetectionDataset",
    "ImageRecord",
    "PixelSpec",
    "TileSettings",
    "TiledDataset",
    "collate_fn",
    "create_dataloader",
    "find_images",
    "image_to_label_path",
    "letterbox",
    "load_coco_records",
    "load_data_config",
    "load_records",
    "load_split",
    "make_synthetic_dataset",
    "make_synthetic_pixels_dataset",
    "mosaic4",
    "normalize_batch",
    "random_perspective",
    "read_image",
]
