"""What a data set's pixels are and how they become network input: :class:`PixelSpec` (the data YAML's
``channels``, ``normalize`` and ``window``), the letterbox pad value per dtype, and
:func:`normalize_batch`, the one function that turns a batch into network input in train, val, predict
and serve.

``normalize``:

- ``dtype`` (default): divide by the dtype's largest value (255 for uint8, 65535 for uint16); float
  images (DICOM, decoded already windowed to [0, 1], or float TIFFs) are taken as they are.
- ``minmax``: per image and channel, (x - min) / (max - min) over the network's input image (letterbox
  pad included); a constant channel becomes 0.
- ``window``: ``window: [center, width]`` on the decoded values: (x - (center - width / 2)) / width,
  clipped to [0, 1] (DICOM files are then decoded to rescaled, unwindowed values).
- ``{mean: [...], std: [...]}``: dtype scaling, then (x - mean) / std per channel (one value or one per
  channel, in units of the [0, 1] scaled values, as ImageNet's).

A checkpoint stores the spec under :data:`CHECKPOINT_KEY` (:meth:`PixelSpec.to_dict`); one without it
was trained on 3-channel data with ``dtype`` normalisation (:meth:`PixelSpec.from_checkpoint`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yololab.errors import CheckpointError, DataError

LOG = logging.getLogger("yololab")

#: the data YAML keys read here
YAML_KEYS = ("channels", "normalize", "window", "frame")
#: the checkpoint key holding :meth:`PixelSpec.to_dict`
CHECKPOINT_KEY = "pixels"
NORMALIZE_KINDS = ("dtype", "minmax", "window", "meanstd")
PAD_GREY = 114  # upstream's letterbox grey, in 8-bit units


@dataclass(frozen=True)
class PixelSpec:
    """Channels per image and the normalisation to network input (see the module docstring)."""

    channels: int = 3
    normalize: str = "dtype"  # one of NORMALIZE_KINDS
    window: tuple[float, float] | None = None  # (center, width): DICOM decoding and normalize 'window'
    mean: tuple[float, ...] | None = None  # normalize 'meanstd' only
    std: tuple[float, ...] | None = None
    frame: int | None = None  # the frame read from every multi-frame DICOM (None: they are refused)

    def __post_init__(self) -> None:
        _check(self, "PixelSpec")

    @property
    def is_default(self) -> bool:
        """3 channels, dtype normalisation, no window: what every image set was before channels existed."""
        return self == PixelSpec()

    def to_dict(self) -> dict[str, Any]:
        """Plain values (ints, floats, lists, strings) for a checkpoint or JSON."""
        return {"channels": self.channels, "normalize": self.normalize,
                "window": None if self.window is None else list(self.window),
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std), "frame": self.frame}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "pixel spec") -> PixelSpec:
        """The inverse of :meth:`to_dict` (a :class:`DataError` naming ``where`` when it is not one)."""
        if not isinstance(d, Mapping):
            raise DataError(f"{where}: expected a mapping of channels/normalize/window/mean/std, got {d!r}")
        unknown = set(d) - {"channels", "normalize", "window", "mean", "std", "frame"}
        if unknown:
            raise DataError(f"{where}: unknown key(s) {sorted(unknown)} in the pixel spec")
        try:
            return cls(channels=d.get("channels", 3), normalize=d.get("normalize", "dtype"),
                       window=_floats(d.get("window")), mean=_floats(d.get("mean")), std=_floats(d.get("std")),
                       frame=d.get("frame"))
        except (TypeError, ValueError) as err:
            raise DataError(f"{where}: {err}") from None

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any], where: str = "checkpoint") -> PixelSpec:
        """The spec a checkpoint was trained with; the default (3 channels, dtype) for one without it."""
        value = ckpt.get(CHECKPOINT_KEY) if isinstance(ckpt, Mapping) else None
        if value is None:
            return cls()
        try:
            return cls.from_dict(value, f"{where} key {CHECKPOINT_KEY!r}")
        except DataError as err:
            raise CheckpointError(str(err)) from None


def _floats(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(float(v) for v in items)


def _check(spec: PixelSpec, where: str) -> None:
    """ValueError for a spec that cannot be applied (``where`` names it)."""
    c = spec.channels
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise ValueError(f"{where}: channels must be a positive integer (1, 3, N), got {c!r}")
    f = spec.frame
    if f is not None and (isinstance(f, bool) or not isinstance(f, int) or f < 0):
        raise ValueError(f"{where}: frame must be a frame index (0, 1, ...), got {f!r}")
    if spec.normalize not in NORMALIZE_KINDS:
        raise ValueError(f"{where}: normalize must be dtype, minmax, window or {{mean: [...], std: [...]}}, "
                         f"got {spec.normalize!r}")
    if spec.window is not None:
        if len(spec.window) != 2 or not spec.window[1] > 0 or not all(map(math.isfinite, spec.window)):
            raise ValueError(f"{where}: window must be [center, width] with width > 0, got {list(spec.window)}")
    elif spec.normalize == "window":
        raise ValueError(f"{where}: normalize: window needs window: [center, width]")
    if spec.normalize == "meanstd":
        for name, v in (("mean", spec.mean), ("std", spec.std)):
            if v is None or len(v) not in (1, c) or not all(map(math.isfinite, v)):
                raise ValueError(f"{where}: normalize {name} must be 1 or {c} (channels) finite numbers, got {v}")
        if any(s <= 0 for s in spec.std):
            raise ValueError(f"{where}: normalize std must be positive, got {list(spec.std)}")
    elif spec.mean is not None or spec.std is not None:
        raise ValueError(f"{where}: mean/std are given but normalize is {spec.normalize!r}")


def parse_pixel_spec(cfg: Mapping[str, Any], where: str) -> PixelSpec:
    """The ``channels``/``normalize``/``window`` keys of a data YAML mapping (defaults where absent); a bad
    value is a :class:`DataError` naming the YAML (``where``) and the key."""
    channels = cfg.get("channels", 3)
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise DataError(f"{where}: channels must be a positive integer (1, 3 or N bands), got {channels!r}")
    norm = cfg.get("normalize", "dtype")
    mean = std = None
    if isinstance(norm, Mapping):
        if set(norm) != {"mean", "std"}:
            raise DataError(f"{where}: normalize as a mapping must have exactly the keys mean and std, "
                            f"got {sorted(map(str, norm))}")
        try:
            mean, std = _floats(norm["mean"]), _floats(norm["std"])
        except (TypeError, ValueError):
            raise DataError(f"{where}: normalize mean and std must be numbers or lists of numbers, "
                            f"got {norm['mean']!r} and {norm['std']!r}") from None
        norm = "meanstd"
    elif not isinstance(norm, str) or norm not in ("dtype", "minmax", "window"):
        raise DataError(f"{where}: normalize must be dtype, minmax, window or {{mean: [...], std: [...]}}, "
                        f"got {norm!r}")
    window = cfg.get("window")
    if window is not None:
        ok = (isinstance(window, (list, tuple)) and len(window) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in window))
        if not ok:
            raise DataError(f"{where}: window must be [center, width] (two numbers), got {window!r}")
        window = (float(window[0]), float(window[1]))
    frame = cfg.get("frame")
    if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int) or frame < 0):
        raise DataError(f"{where}: frame must be the index (0, 1, ...) of the frame read from multi-frame "
                        f"DICOM files, got {frame!r}")
    try:
        return PixelSpec(channels, norm, window, mean, std, frame)
    except ValueError as err:
        raise DataError(str(err).replace("PixelSpec", where, 1)) from None


def dtype_max(dtype: np.dtype | torch.dtype) -> float:
    """The value that ``normalize: dtype`` maps to 1: 255 for uint8, 65535 for uint16, 1 for floats."""
    if isinstance(dtype, torch.dtype):
        if dtype.is_floating_point:
            return 1.0
        return float(torch.iinfo(dtype).max)
    dtype = np.dtype(dtype)
    return 1.0 if dtype.kind == "f" else float(np.iinfo(dtype).max)


def pad_value(dtype: np.dtype) -> float | int:
    """Upstream's letterbox grey 114 in ``dtype``'s units: 114 (uint8), 114 * 257 (uint16), 114 / 255 (float)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return PAD_GREY / 255
    return PAD_GREY * (int(np.iinfo(dtype).max) // 255)


def pad_tuple(dtype: np.dtype, channels: int) -> tuple[float, ...]:
    """:func:`pad_value` as an OpenCV border value (at most 4 entries, as OpenCV takes)."""
    return (pad_value(dtype),) * min(max(channels, 1), 4)


def normalize_batch(x: torch.Tensor, spec: PixelSpec | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (B, C, H, W) batch as stored (uint8, uint16 or float) -> network input of ``dtype`` per ``spec``.

    For uint8 with ``dtype`` normalisation this is ``x.to(dtype) / 255``: the floats of every earlier release.
    Other inputs are normalised in float32 and then cast (65535 does not fit float16).
    """
    spec = spec or PixelSpec()
    work = dtype if x.dtype == torch.uint8 or torch.finfo(dtype).bits >= 32 else torch.float32
    return _normalize(x, spec, work).to(dtype)


def _normalize(x: torch.Tensor, spec: PixelSpec, dtype: torch.dtype) -> torch.Tensor:
    top = dtype_max(x.dtype)
    y = x.to(dtype)
    if spec.normalize == "dtype":
        return y if top == 1.0 else y / top
    if spec.normalize == "window":
        center, width = spec.window
        return ((y - (center - width / 2)) / width).clamp_(0, 1)
    if spec.normalize == "minmax":
        lo = y.amin(dim=(-2, -1), keepdim=True)
        span = y.amax(dim=(-2, -1), keepdim=True) - lo
        return torch.where(span > 0, (y - lo) / span.clamp_min(torch.finfo(dtype).tiny), torch.zeros_like(y))
    mean = torch.tensor(spec.mean, dtype=dtype, device=y.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=dtype, device=y.device).view(1, -1, 1, 1)
    if top != 1.0:
        y = y / top
    return (y - mean) / std


def normalize_array(x: np.ndarray, spec: PixelSpec | None = None) -> np.ndarray:
    """:func:`normalize_batch` on a numpy (B, C, H, W) array -> float32 (the runtime's preprocessing)."""
    return normalize_batch(torch.from_numpy(np.ascontiguousarray(x)), spec).numpy()


def pad_input_value(spec: PixelSpec | None = None, dtype: np.dtype = np.uint8) -> float:
    """The letterbox grey of ``dtype`` data as network input under ``spec`` (minmax: 0, the pad being
    normalised with each image)."""
    spec = spec or PixelSpec()
    if spec.normalize == "minmax":
        return 0.0
    raw = np.full((1, 1, 1, 1), pad_value(dtype), dtype=np.dtype(dtype))
    if spec.normalize == "meanstd":
        raw = np.repeat(raw, len(spec.mean), axis=1)
    return float(normalize_array(raw, spec).reshape(-1)[0])


def checkpoint_pixels(path: str | os.PathLike) -> PixelSpec | None:
    """The spec a yololab .pt checkpoint records (None: it records none, e.g. one older than channels, an
    upstream .pt or an export; such a model was trained on 3-channel dtype-normalised images)."""
    from yololab.models.checkpoints import read_weights_only

    path = Path(path)
    if path.suffix != ".pt" or not path.is_file():
        return None
    try:
        ckpt = read_weights_only(path)
    except CheckpointError:  # an upstream (pickled) .pt: nothing recorded
        return None
    if not isinstance(ckpt, Mapping) or ckpt.get(CHECKPOINT_KEY) is None:
        return None
    return PixelSpec.from_checkpoint(ckpt, str(path))


def model_pixels(data: PixelSpec, trained: PixelSpec | None, where: str = "the weights") -> PixelSpec:
    """The spec to score or predict with: the data's decoding (channels, window, frame) with the
    normalisation the model was trained with (a warning when the data YAML asks for another one)."""
    if trained is None:
        return data
    keep = PixelSpec(data.channels, trained.normalize, trained.window if trained.normalize == "window" else data.window,
                     trained.mean, trained.std, data.frame)
    if (data.normalize, data.mean, data.std) != (trained.normalize, trained.mean, trained.std) or \
            (trained.normalize == "window" and data.window != trained.window):
        LOG.warning("the data YAML asks for normalize %s but %s were trained with %s: using the training's",
                    data.normalize, where, trained.normalize)
    return keep


def preview_rgb(image: np.ndarray) -> np.ndarray:
    """An (H, W, C) image of any sample type as 8-bit RGB for drawing: dtype-scaled to 0..255, one channel
    shown grey, two or more than three shown by their first (or first three)."""
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    x = image.reshape(*image.shape[:2], -1).astype(np.float32) / np.float32(dtype_max(image.dtype))
    x = np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)
    x = x[:, :, :3] if x.shape[2] >= 3 else np.repeat(x[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(x)


def convert_image(im: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``im`` in another sample type with the same [0, 1] values under dtype normalisation (itself when it
    already is one): a mosaic of a mixed split takes its first tile's type, a mixed predict batch float32."""
    dtype = np.dtype(dtype)
    if im.dtype == dtype:
        return im
    x = im.astype(np.float32) / np.float32(dtype_max(im.dtype))
    if dtype.kind == "f":
        return x.astype(dtype)
    return np.rint(np.clip(x, 0, 1) * np.float32(dtype_max(dtype))).astype(dtype)
