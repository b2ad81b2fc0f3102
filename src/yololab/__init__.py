"""yololab: YOLOv5/YOLOv7 with swappable backbones, trained, scored and compared fairly."""

from yololab.backbones import list_backbones
from yololab.models import Detector, ModelSpec, build_model

__version__ = "0.1.0"


def load_model(path, num_classes=None, map_location="cpu"):
    """Load a yololab checkpoint or an upstream YOLOv5/YOLOv7 .pt (safely; no pickled code runs)."""
    from yololab.models.checkpoints import load_model as _load

    return _load(path, num_classes=num_classes, map_location=map_location)


__all__ = ["build_model", "load_model", "list_backbones", "Detector", "ModelSpec", "__version__"]
