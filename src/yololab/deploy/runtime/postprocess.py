"""Raw (B, N, 5+nc) outputs -> per-image detections in original-image pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from yololab.deploy.runtime.images import LetterboxInfo
from yololab.eval.boxes import scale_boxes
from yololab.eval.nms import non_max_suppression


def scale_detections(dets: np.ndarray, net_shape: tuple[int, int], info: LetterboxInfo) -> np.ndarray:
    """(n, 6) x1, y1, x2, y2, score, cls from network-input pixels to the original image (clipped)."""
    if not len(dets):
        return np.zeros((0, 6), np.float32)
    return scale_boxes(dets.astype(np.float32), net_shape, info.shape, ratio_pad=info.ratio_pad)


def postprocess(raw: np.ndarray, net_shape: tuple[int, int], infos: Sequence[LetterboxInfo],
                conf: float = 0.25, iou: float = 0.45, max_det: int = 300,
                multi_label: bool = False, agnostic: bool = False) -> list[np.ndarray]:
    """NMS (yololab.eval.nms) and box rescaling; one float32 (n, 6) array per image."""
    pred = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32))
    dets = non_max_suppression(pred, conf, iou, max_det=max_det, multi_label=multi_label,
                               agnostic=agnostic)
    return [scale_detections(d.numpy(), net_shape, info) for d, info in zip(dets, infos)]
