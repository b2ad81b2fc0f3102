"""Detector composition, the zoo of families/scales, and checkpoint I/O."""

from yololab.models.build import build_model
from yololab.models.detector import Detector, ModelSpec
from yololab.models.zoo import MODEL_VARIANTS, get_variant

__all__ = ["build_model", "Detector", "ModelSpec", "MODEL_VARIANTS", "get_variant"]
