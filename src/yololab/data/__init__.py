"""Datasets: YOLO/COCO formats, checked and cached records, augmentation, loaders, synthetic data.
Names are imported on first use, so that importing one submodule (``yololab.data.tiling.grid``) does not load
torch (``yololab --help`` answers without it)."""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    "AugmentConfig": "yololab.data.augment",
    "letterbox": "yololab.data.augment",
    "mosaic4": "yololab.data.augment",
    "random_perspective": "yololab.data.augment",
    "CocoRecords": "yololab.data.formats.coco_format",
    "load_coco_records": "yololab.data.formats.coco_format",
    "DetectionDataset": "yololab.data.dataset",
    "collate_fn": "yololab.data.dataset",
    "create_dataloader": "yololab.data.dataset",
    "read_image": "yololab.data.imaging.images",
    "PixelSpec": "yololab.data.imaging.pixels",
    "normalize_batch": "yololab.data.imaging.pixels",
    "ImageRecord": "yololab.data.records",
    "load_records": "yololab.data.records",
    "load_split": "yololab.data.records",
    "DatasetReport": "yololab.data.report",
    "make_synthetic_dataset": "yololab.data.synthetic",
    "make_synthetic_pixels_dataset": "yololab.data.synthetic",
    "TiledDataset": "yololab.data.tiling.tiled",
    "TileSettings": "yololab.data.tiling.tiles",
    "DataConfig": "yololab.data.formats.yolo_format",
    "find_images": "yololab.data.formats.yolo_format",
    "image_to_label_path": "yololab.data.formats.yolo_format",
    "load_data_config": "yololab.data.formats.yolo_format",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
