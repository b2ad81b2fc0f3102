"""Detector composition, the zoo of families/scales, and checkpoint I/O.
Names are imported on first use (``yololab models`` reads :mod:`zoo` without torch)."""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    "build_model": "yololab.models.build", "Detector": "yololab.models.detector",
    "ModelSpec": "yololab.models.detector", "MODEL_VARIANTS": "yololab.models.zoo",
    "get_variant": "yololab.models.zoo",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
