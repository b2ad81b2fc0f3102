"""Backbones: YOLO's own (cspdarknet, elan), timm models and torchvision ResNets."""

from yololab.backbones.base import Backbone, BackboneRequest
from yololab.backbones.registry import (
    create_backbone, describe_backbones, list_backbones, register_backbone, register_prefix,
)

__all__ = ["Backbone", "BackboneRequest", "create_backbone", "describe_backbones",
           "list_backbones", "register_backbone", "register_prefix"]
