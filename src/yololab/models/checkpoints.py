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
from yololab.models.build import build_model
from yololab.models.detector import Detector, ModelSpec
from yololab.models.safe_pickle import UnsafeCheckpointError, safe_torch_load
from yololab.models.upstream import load_upstream_checkpoint

LOG = logging.getLogger("yololab")
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file and the reason."""


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``.

    A kill at any moment leaves either the old file or the new one, never a truncated one.
    """
    atomic_write(path, lambda handle: torch.save(obj, handle))


def model_checkpoint(model: Detector, fused: bool = False, **extra: Any) -> dict:
    """The dict yololab saves: spec, weights, and any extra plain-data metadata."""
    return {"yololab_format": FORMAT_VERSION, "spec": model.spec.to_dict(), "fused": fused,
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, **extra}


def save_model(model: Detector, path: str | Path, **extra: Any) -> None:
    fused = not any(hasattr(m, "bn") and isinstance(m.bn, torch.nn.BatchNorm2d) for m in model.modules())
    atomic_save(model_checkpoint(model, fused=fused, **extra), path)


def _read(path: Path) -> tuple[Any, bool]:
    """Returns (object, is_upstream). Tries weights-only first, then the restricted unpickler."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (not a zip archive; corrupt or "
                              f"truncated download?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError:
        pass  # holds pickled classes: maybe an upstream model, read it the restricted way
    except (RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path} is corrupt or truncated: {err}") from err
    try:
        return safe_torch_load(str(path)), True
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f"refused to load {path}: {err}") from None
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path} is corrupt or truncated: {err}") from err


def load_model(path: str | Path, num_classes: int | None = None, map_location: str = "cpu") -> Detector:
    """Load a yololab checkpoint or an upstream YOLOv5/YOLOv7 release .pt, in eval mode.

    ``num_classes`` different from the checkpoint's re-initialises the detection head (logged).
    """
    path = Path(path)
    obj, upstream = _read(path)
    if upstream:
        model = load_upstream_checkpoint(path, obj)
    elif isinstance(obj, dict) and "yololab_format" in obj:
        spec = ModelSpec(**obj["spec"])
        model = build_model(spec.model, spec.backbone, spec.num_classes, names=spec.names,
                            anchors=spec.anchors)
        if obj.get("fused"):
            model.fuse()
        model.load_state_dict(obj["state_dict"])
    else:
        raise CheckpointError(f"{path} is neither a yololab checkpoint nor an upstream YOLOv5/YOLOv7 "
                              f"model (it holds {type(obj).__name__})")
    if num_classes is not None and num_classes != model.spec.num_classes:
        model = _reinit_head(model, num_classes, path)
    return model.to(map_location).eval()


def _reinit_head(model: Detector, num_classes: int, path: Path) -> Detector:
    spec = model.spec
    LOG.warning("%s has %d classes, %d requested: the detection head is re-initialised, "
                "backbone and neck weights are kept", path, spec.num_classes, num_classes)
    fresh = build_model(spec.model, spec.backbone, num_classes, anchors=spec.anchors)
    keep = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    fresh.load_state_dict(keep, strict=False)
    return fresh
