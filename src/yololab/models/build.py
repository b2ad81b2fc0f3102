"""``build_model``: a family/scale from the zoo with its backbone chosen by name."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from yololab.backbones import BackboneRequest, create_backbone
from yololab.backbones.stem import check_channels
from yololab.heads import DetectHead
from yololab.models.detector import ChannelAdapters, Detector, ModelSpec
from yololab.models.zoo import STRIDES, ModelVariant, get_variant
from yololab.necks import YOLOV7_NECK_SPECS, YOLOv5PAN, YOLOv7PAN

LOG = logging.getLogger("yololab")


def build_neck(variant: ModelVariant) -> nn.Module:
    if variant.family == "yolov5":
        return YOLOv5PAN(variant.depth, variant.width, variant.act)
    return YOLOv7PAN(YOLOV7_NECK_SPECS[variant.name])


def default_names(num_classes: int) -> list[str]:
    return [f"class{i}" for i in range(num_classes)]


def build_model(model: str = "yolov5s", backbone: str | None = None, num_classes: int = 80,
                pretrained_backbone: bool | str | Path = False, names: Sequence[str] | None = None,
                anchors: Sequence[Sequence[float]] | None = None, in_channels: int = 3) -> Detector:
    """Build a detector, e.g. ``build_model("yolov5s", backbone="resnet50", num_classes=20)``.

    With the family's own backbone (the default) this is upstream's training-time model,
    parameter for parameter. Any other backbone feeds the same neck and head through 1x1
    adapters, so a comparison isolates the backbone. ``in_channels`` is the images' channel
    count (1, 3 or N); pretrained RGB backbone weights are adapted to it by timm's rule and the
    spec's ``stem_adaptation`` says how.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if names is not None and len(names) != num_classes:
        raise ValueError(f"{len(names)} class names given for num_classes={num_classes}")
    variant = get_variant(model)
    backbone_name = backbone or variant.native_backbone
    if isinstance(pretrained_backbone, Path):
        pretrained_backbone = str(pretrained_backbone)
    request = BackboneRequest(backbone_name, variant.size, variant.depth, variant.width,
                              variant.act, pretrained_backbone, check_channels(in_channels))
    body = create_backbone(request)
    if body.stem_adaptation is not None:
        LOG.info("%s", body.stem_adaptation.describe())
    neck = build_neck(variant)
    adapters = ChannelAdapters(tuple(body.channels), neck.in_channels, variant.act)
    anchor_rows = [list(map(float, row)) for row in (anchors or variant.anchors)]
    head = DetectHead(neck.out_channels, num_classes, anchor_rows, STRIDES,
                      implicit=variant.family == "yolov7")
    spec = ModelSpec(model=variant.name, backbone=backbone_name, num_classes=num_classes,
                     names=list(names) if names else default_names(num_classes), anchors=anchor_rows,
                     in_channels=in_channels, stem_adaptation=body.stem_adaptation)
    return Detector(body, adapters, neck, head, spec)


def build_from_spec(spec: ModelSpec) -> Detector:
    """The (untrained) architecture a saved spec describes, at its channel count; the record of how its
    stem was adapted is kept."""
    model = build_model(spec.model, spec.backbone, spec.num_classes, names=spec.names, anchors=spec.anchors,
                        in_channels=spec.in_channels)
    model.spec.stem_adaptation = spec.stem_adaptation
    return model
