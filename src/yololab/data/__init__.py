"""Datasets: YOLO/COCO formats, checked and cached records, augmentation, loaders, synthetic data.
Names are imported on first use, so that importing one submodule (``yololab.data.grid``) does not load
torch (``yololab --help`` answers without it)."""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    "AugmentConfig": "yololab.data.augment",
    "letterbox": "yololab.data.augment",
    "mosaic4": "yololab.data.augment",
    "random_perspective": "yololab.data.augment",
    "CocoRecords": "yololab.data.coco_format",
    "load_coco_records": "yololab.data.coco_format",
    "DetectionDataset": "yololab.data.dataset",
    "collate_fn": "yololab.data.dataset",
    "create_dataloader": "yololab.data.dataset",
    "read_image": "yololab.data.images",
    "PixelSpec": "yololab.data.pixels",
    "normalize_batch": "yololab.data.pixels",
    "ImageRecord": "yololab.data.records",
    "load_records": "yololab.data.records",
    "load_split": "yololab.data.records",
    "DatasetReport": "yololab.data.report",
    "make_synthetic_dataset": "yololab.data.synthetic",
    "make_synthetic_pixels_dataset": "yololab.data.synthetic",
    "TiledDataset": "yololab.data.tiled",
    "TileSettings": "yololab.data.tiles",
    "DataConfig": "yololab.data.yolo_format",
    "find_images": "yololab.data.yolo_format",
    "image_to_label_path": "yololab.data.yolo_format",
    "load_data_config": "yololab.data.yolo_format",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
