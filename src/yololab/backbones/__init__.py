"""Backbones: YOLO's own (cspdarknet, elan), timm models and torchvision ResNets.
Names are imported on first use (``yololab models`` reads :mod:`catalog` without torch)."""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    "Backbone": "yololab.backbones.base", "BackboneRequest": "yololab.backbones.base",
    **dict.fromkeys(("create_backbone", "describe_backbones", "list_backbones", "register_backbone",
                     "register_prefix"), "yololab.backbones.registry"),
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
