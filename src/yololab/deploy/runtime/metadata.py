"""Model metadata stored inside every exported file (names, stride, input size, switches)."""

from __future__ import annotations

import json
from typing import Any

from yololab.models.detector import Detector

KEY = "yololab"


def build_metadata(model: Detector, imgsz: tuple[int, int], batch: int, dynamic: bool, half: bool,
                   nms: dict[str, float] | None, fmt: str) -> dict[str, Any]:
    """Plain-data description of an export; ``imgsz``/``batch`` are None when dynamic."""
    from yololab.version import __version__

    return {
        "format": fmt,
        "yololab_version": __version__,
        "spec": model.spec.to_dict(),
        "names": list(model.names) or [str(i) for i in range(model.spec.num_classes)],
        "stride": model.stride,
        "in_channels": model.spec.in_channels,
        "imgsz": None if dynamic else list(imgsz),
        "batch": None if dynamic else batch,
        "dynamic": dynamic,
        "half": half,
        "nms": nms,  # None, or {"conf", "iou", "max_det"} baked into the graph
        "fused": True,
    }


def dumps(meta: dict[str, Any]) -> str:
    return json.dumps(meta, separators=(",", ":"))


def loads(text: str | bytes | None) -> dict[str, Any]:
    """Parse stored metadata; {} when absent (e.g. an upstream ONNX file)."""
    if not text:
        return {}
    try:
        meta = json.loads(text)
    except (ValueError, TypeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def names_from_upstream(text: str | None) -> list[str]:
    """Class names from upstream's ``names`` metadata (a Python dict literal) where present."""
    import ast

    if not text:
        return []
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names] if isinstance(names, (list, tuple)) else []
