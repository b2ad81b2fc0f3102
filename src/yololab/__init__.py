"""yololab: YOLOv5/YOLOv7 with swappable backbones, trained, scored and compared fairly.

Public names are loaded on first use, so ``import yololab`` does not import torch.
"""

from yololab.lazy import lazy_getattr
from yololab.version import __version__

_EXPORTS = {
    "build_model": "yololab.models",
    "Detector": "yololab.models",
    "ModelSpec": "yololab.models",
    "load_model": "yololab.models.checkpoints",
    "list_backbones": "yololab.backbones",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = [*_EXPORTS, "__version__"]
