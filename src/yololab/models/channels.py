"""Changing a built or loaded detector's input channel count (its stem adapted by timm's rule)."""

from __future__ import annotations

import logging

from yololab.backbones.stem import adapt_stem, check_channels
from yololab.models.detector import Detector

LOG = logging.getLogger("yololab")


def adapt_input_channels(model: Detector, in_channels: int, source: str = "") -> Detector:
    """``model`` (changed in place) reading ``in_channels`` image channels: its stem convolution's
    filters are adapted by ``timm.models.adapt_input_conv`` (one channel: their sum; N: repeated and
    rescaled by C/N), the spec records it and one log line says so. Same count: returned unchanged."""
    check_channels(in_channels)
    old = model.spec.in_channels
    if in_channels == old:
        return model
    record = adapt_stem(model.backbone, old, in_channels, "backbone", source or model.spec.model)
    model.backbone.in_channels = in_channels
    model.backbone.stem_adaptation = record
    model.spec.in_channels = in_channels
    model.spec.stem_adaptation = record
    LOG.info("%s", record.describe())
    return model
