"""Box format conversions and letterbox <-> original-image coordinate mapping.

All functions accept a ``torch.Tensor`` or ``numpy.ndarray`` whose last dimension
holds at least 4 box coordinates, return a new array/tensor of the same kind and
never modify their input.  Shapes are ``(height, width)`` like ``img.shape[:2]``.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np
import torch

Boxes = TypeVar("Boxes", torch.Tensor, np.ndarray)
Shape = Sequence[int]  # (height, width)
RatioPad = tuple[tuple[float, float], tuple[float, float]]  # ((gain_h, gain_w), (pad_w, pad_h))

__all__ = ["xywh2xyxy", "xyxy2xywh", "xyxy2ltwh", "letterbox_params", "scale_boxes", "clip_boxes"]


def _copy(x: Boxes) -> Boxes:
    """Floating-point copy of ``x`` (integer boxes would truncate)."""
    if isinstance(x, torch.Tensor):
        return x.clone() if x.is_floating_point() else x.float()
    return np.array(x, dtype=np.result_type(x.dtype, np.float32), copy=True)


def xywh2xyxy(x: Boxes) -> Boxes:
    """Centre ``(cx, cy, w, h)`` -> corners ``(x1, y1, x2, y2)``."""
    y = _copy(x)
    half_w, half_h = x[..., 2] / 2, x[..., 3] / 2
    y[..., 0] = x[..., 0] - half_w
    y[..., 1] = x[..., 1] - half_h
    y[..., 2] = x[..., 0] + half_w
    y[..., 3] = x[..., 1] + half_h
    return y


def xyxy2xywh(x: Boxes) -> Boxes:
    """Corners ``(x1, y1, x2, y2)`` -> centre ``(cx, cy, w, h)``."""
    y = _copy(x)
    y[..., 0] = (x[..., 0] + x[..., 2]) / 2
    y[..., 1] = (x[..., 1] + x[..., 3]) / 2
    y[..., 2] = x[..., 2] - x[..., 0]
    y[..., 3] = x[..., 3] - x[..., 1]
    return y


def xyxy2ltwh(x: Boxes) -> Boxes:
    """Corners ``(x1, y1, x2, y2)`` -> COCO ``(left, top, w, h)``."""
    y = _copy(x)
    y[..., 2] = x[..., 2] - x[..., 0]
    y[..., 3] = x[..., 3] - x[..., 1]
    return y


def letterbox_params(from_shape: Shape, to_shape: Shape) -> RatioPad:
    """``ratio_pad`` of a centred, aspect-preserving letterbox of ``to_shape`` into ``from_shape``.

    ``from_shape`` is the network input (letterboxed) shape, ``to_shape`` the original image shape.
    """
    gain = min(from_shape[0] / to_shape[0], from_shape[1] / to_shape[1])
    pad_w = (from_shape[1] - to_shape[1] * gain) / 2
    pad_h = (from_shape[0] - to_shape[0] * gain) / 2
    return (gain, gain), (pad_w, pad_h)


def clip_boxes(boxes: Boxes, shape: Shape) -> Boxes:
    """Clip xyxy ``boxes`` to an image of ``shape = (height, width)``."""
    y = _copy(boxes)
    h, w = float(shape[0]), float(shape[1])
    if isinstance(y, torch.Tensor):
        y[..., [0, 2]] = y[..., [0, 2]].clamp(0, w)
        y[..., [1, 3]] = y[..., [1, 3]].clamp(0, h)
    else:
        y[..., [0, 2]] = y[..., [0, 2]].clip(0, w)
        y[..., [1, 3]] = y[..., [1, 3]].clip(0, h)
    return y


def scale_boxes(
    boxes: Boxes,
    from_shape: Shape,
    to_shape: Shape,
    ratio_pad: RatioPad | None = None,
    clip: bool = True,
) -> Boxes:
    """Map xyxy ``boxes`` from a letterboxed image (``from_shape``) back to the original (``to_shape``).

    ``ratio_pad = ((gain_h, gain_w), (pad_w, pad_h))`` as stored by the dataset; when omitted it is
    recomputed with :func:`letterbox_params`.  Like upstream YOLOv5, a single gain (``gain_h``) is
    applied to both axes.  Extra columns (score, class, ...) are passed through unchanged.
    """
    if ratio_pad is None:
        ratio_pad = letterbox_params(from_shape, to_shape)
    gain = float(ratio_pad[0][0])
    pad_w, pad_h = float(ratio_pad[1][0]), float(ratio_pad[1][1])
    y = _copy(boxes)
    y[..., [0, 2]] = (y[..., [0, 2]] - pad_w) / gain
    y[..., [1, 3]] = (y[..., [1, 3]] - pad_h) / gain
    return clip_boxes(y, to_shape) if clip else y
