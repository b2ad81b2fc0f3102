"""What one training run needs (typed, nested sections included); saved as config.yaml in the run folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from yololab.config import check_seed, from_mapping
from yololab.data.augment import AugmentConfig
from yololab.data.tiling.tiles import TileSettings, parse_tiles
from yololab.device import DEFAULT_DEVICE
from yololab.train.hyp import Hyperparameters


@dataclass
class TrainConfig:
    model: str = "yolov5s"                 # zoo name: yolov5n/s/m/l/x, yolov7-tiny, yolov7, yolov7x
    backbone: str | None = None            # None: the family's own backbone
    data: str = ""                         # data YAML (YOLO format) or COCO instances JSON
    image_dir: str | None = None           # image folder for a COCO JSON dataset
    val_data: str | None = None            # COCO JSON of the validation images (with a COCO JSON ``data``)
    val_image_dir: str | None = None       # their folder (default: image_dir)
    best_on_train: bool = False            # no val_data: still pick best.pt (and early-stop) on the training images
    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    weights: str | None = None             # initial weights: yololab or upstream .pt
    pretrained_backbone: bool | str = False  # True (hub) or a local file in timm/torchvision format
    device: str = DEFAULT_DEVICE           # 'auto' (GPU 0 if available), 'cpu', '0', '0,1' (several: torchrun)
    out: str = "runs/train"
    workers: int = 2
    cache: str | None = "auto"             # decoded, resized training images: 'auto', 'ram', 'disk' (.npy) or 'none'
    cache_processes: int = 0               # processes on this machine holding a RAM copy (0: this run's own)
    mosaic_impl: str = "warp"              # 'warp' (one composed warp per tile) or 'canvas' (upstream's 2x canvas)
    seed: int = 0
    deterministic: bool = False
    freeze: int = 0                        # freeze the first N backbone stages
    backbone_lr_mult: float = 1.0          # lr multiplier of backbone parameters
    cos_lr: bool = False                   # cosine instead of linear lr schedule
    patience: int = 100                    # early stopping: epochs without improvement
    assigner: str = "yolov5"               # 'yolov5' or 'ota' (yolov7 family)
    sync_bn: bool = False                  # SyncBatchNorm under DDP
    amp: bool = True                       # mixed precision (CUDA only)
    nominal_batch: int = 64                # gradient accumulation target
    grad_clip: float = 10.0                # max gradient norm
    hyp: Hyperparameters = field(default_factory=Hyperparameters)  # optimizer, warm-up and loss gains
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # augmentation strengths
    close_mosaic: int = 0                  # turn mosaic off for the last N epochs
    tiles: TileSettings | None = None      # tiled training {size, overlap, ...}; wins over the data YAML's
    val_every: int = 1                     # validate every N epochs (the last epoch always)
    val_conf: float = 0.001
    val_iou: float = 0.6
    resume: bool = False                   # continue from out/weights/last.pt
    exist_ok: bool = False                 # train into a folder that holds a run (its weights are replaced)
    progress: bool = True
    plots: bool = True                     # results.png at the end of the run
    tensorboard: bool = False              # TensorBoard event files in the run folder (pip install ".[tracking]")
    tensorboard_images_every: int = 10     # val prediction images every N epochs and at the last (0: none)
    mlflow: str | None = None              # MLflow tracking URI (file:..., http://...): params, metrics, artifacts
    mlflow_experiment: str = "yololab"     # MLflow experiment of the run

    def __post_init__(self) -> None:  # partial mappings (overrides) become the typed sections
        check_seed(self.seed, "train options")
        if isinstance(self.hyp, Mapping):
            self.hyp = from_mapping(Hyperparameters, self.hyp, "hyp")
        if isinstance(self.augment, Mapping):
            self.augment = from_mapping(AugmentConfig, self.augment, "augment")
        self.tiles = parse_tiles(self.tiles, "train options")
