"""Anchor-based detection heads (raw maps only: no loss, no NMS inside)."""

from yololab.heads.decode import decode_predictions, make_grids
from yololab.heads.detect import DetectHead

__all__ = ["DetectHead", "decode_predictions", "make_grids"]
