"""yololab checkpoints (plain state_dict + metadata, ``torch.load(weights_only=True)``-safe),
atomic saving, and ``load_model`` for both yololab and upstream files."""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from yololab.atomic import atomic_write
from yololab.errors import CheckpointError
from yololab.models.build import build_from_spec, build_model
from yololab.models.channels import adapt_input_channels
from yololab.models.content_hash import HASH_KEY, content_hash, with_hash
from yololab.models.detector import Detector, ModelSpec
from yololab.models.safe_pickle import UnsafeCheckpointError, safe_torch_load
from yololab.models.upstream import load_upstream_checkpoint

LOG = logging.getLogger("yololab")
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: str | Path, root: str | Path | None = None) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path`` (inside
    ``root``, never through a symbolic link; see :mod:`yololab.atomic`). A yololab checkpoint gets
    its content hash. A kill at any moment leaves either the old file or the new one."""
    if isinstance(obj, dict) and "yololab_format" in obj:
        obj = with_hash(obj)
    atomic_write(path, lambda handle: torch.save(obj, handle), root)


def model_checkpoint(model: Detector, fused: bool = False, **extra: Any) -> dict:
    """The dict yololab saves: spec, weights, and any extra plain-data metadata."""
    return {"yololab_format": FORMAT_VERSION, "spec": model.spec.to_dict(), "fused": fused,
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, **extra}


def save_model(model: Detector, path: str | Path, **extra: Any) -> None:
    fused = not any(hasattr(m, "bn") and isinstance(m.bn, torch.nn.BatchNorm2d) for m in model.modules())
    atomic_save(model_checkpoint(model, fused=fused, **extra), path)


def verify_hash(obj: Any, path: Path) -> None:
    """Compare a yololab checkpoint's tensors with the content hash saved with them (old files
    without one are loaded as they are, and the log says so)."""
    if not (isinstance(obj, dict) and "yololab_format" in obj):
        return
    saved = obj.get(HASH_KEY)
    if saved is None:
        LOG.info("%s has no content hash (saved by an older yololab): loaded without verifying it", path)
        return
    actual = content_hash(obj)
    if actual != saved:
        raise CheckpointError(f"{path} is damaged: its tensors do not match the content hash saved with them "
                              f"(sha256 {str(saved)[:12]}..., now {actual[:12]}...); restore it from a copy")


def read_weights_only(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of a yololab file, verified; one clear sentence for a missing,
    truncated, damaged or foreign (pickled-objects) file instead of torch's own text."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (not a zip archive: truncated, or not a "
                              f".pt file)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path} is not a yololab checkpoint: it holds pickled Python objects (an "
                              f"upstream YOLOv5/YOLOv7 .pt, or a foreign file)") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged archive
        raise CheckpointError(f"{path} is damaged: PyTorch could not read its archive "
                              f"({type(err).__name__}); restore it from a copy") from None
    verify_hash(obj, path)
    return obj


def _read(path: Path) -> tuple[Any, bool]:
    """Returns (object, is_upstream). Tries weights-only first, then the restricted unpickler."""
    try:
        return read_weights_only(path), False
    except CheckpointError as err:
        if "pickled Python objects" not in str(err):
            raise
    try:
        return safe_torch_load(str(path)), True
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f"refused to load {path}: {err}") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged archive
        raise CheckpointError(f"{path} is damaged: it could not be read ({type(err).__name__}); restore it "
                              f"from a copy") from None


def load_model(path: str | Path, num_classes: int | None = None, map_location: str = "cpu",
               in_channels: int | None = None) -> Detector:
    """Load a yololab checkpoint or an upstream YOLOv5/YOLOv7 release .pt, in eval mode.

    ``num_classes`` different from the checkpoint's re-initialises the detection head (logged).
    ``in_channels`` (the data's channel count) different from the checkpoint's adapts the stem by
    timm's rule (logged, and recorded in ``model.spec.stem_adaptation``); None keeps the checkpoint's.
    """
    path = Path(path)
    obj, upstream = _read(path)
    if upstream:
        model = load_upstream_checkpoint(path, obj)
    elif isinstance(obj, dict) and "yololab_format" in obj:
        model = build_from_spec(ModelSpec.from_dict(obj["spec"]))
        if obj.get("fused"):
            model.fuse()
        model.load_state_dict(obj["state_dict"])
    else:
        raise CheckpointError(f"{path} is neither a yololab checkpoint nor an upstream YOLOv5/YOLOv7 "
                              f"model (it holds {type(obj).__name__})")
    if num_classes is not None and num_classes != model.spec.num_classes:
        model = _reinit_head(model, num_classes, path)
    if in_channels is not None:
        model = adapt_input_channels(model, in_channels, str(path))
    return model.to(map_location).eval()


def _reinit_head(model: Detector, num_classes: int, path: Path) -> Detector:
    spec = model.spec
    LOG.warning("%s has %d classes, %d requested: the detection head is re-initialised, "
                "backbone and neck weights are kept", path, spec.num_classes, num_classes)
    fresh = build_model(spec.model, spec.backbone, num_classes, anchors=spec.anchors, in_channels=spec.in_channels)
    fresh.spec.stem_adaptation = spec.stem_adaptation
    keep = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    fresh.load_state_dict(keep, strict=False)
    return fresh
