"""Non-maximum suppression on decoded YOLO outputs (upstream YOLOv5 semantics)."""

from __future__ import annotations

from typing import Sequence

import torch
from torchvision.ops import batched_nms

from yololab.eval.boxes import xywh2xyxy

__all__ = ["non_max_suppression"]

_PREFIX_FACTOR = 10  # the first NMS pass looks at the 10 * max_det best candidates only


@torch.no_grad()
def non_max_suppression(
    pred: torch.Tensor | Sequence[torch.Tensor],
    conf_thres: float = 0.001,
    iou_thres: float = 0.6,
    max_det: int = 300,
    multi_label: bool = True,
    agnostic: bool = False,
    classes: Sequence[int] | None = None,
    max_nms: int = 30000,
) -> list[torch.Tensor]:
    """Per-image NMS of ``pred`` (batch, N, 5+nc) = cx, cy, w, h, obj, class probs.

    Returns one ``(n, 6)`` float32 tensor per image: x1, y1, x2, y2, score, class, sorted by
    descending score, with score = obj * class prob.  As upstream: anchors with obj <= conf_thres
    are dropped first; ``multi_label`` keeps every (box, class) pair with score > conf_thres
    (single best class otherwise; forced off when nc == 1); ``classes`` keeps only those class
    ids; at most ``max_nms`` highest-scoring candidates enter NMS (per class unless
    ``agnostic``) and at most ``max_det`` survive.  A tuple/list input uses its first element.
    The input is not modified; there is no time limit.
    """
    if not 0.0 <= conf_thres <= 1.0:
        raise ValueError(f"conf_thres must be in [0, 1], got {conf_thres}")
    if not 0.0 <= iou_thres <= 1.0:
        raise ValueError(f"iou_thres must be in [0, 1], got {iou_thres}")
    if isinstance(pred, (list, tuple)):
        pred = pred[0]
    if pred.dim() != 3 or pred.shape[-1] < 6:
        raise ValueError(f"pred must be (batch, N, 5+nc), got {tuple(pred.shape)}")

    nc = pred.shape[-1] - 5
    multi_label = multi_label and nc > 1
    class_filter = None if classes is None else torch.as_tensor(list(classes), device=pred.device)
    empty = pred.new_zeros((0, 6), dtype=torch.float32)
    out: list[torch.Tensor] = []
    candidates = pred[..., 4] > conf_thres
    for x, keep in zip(pred, candidates):
        x = x[keep].float()  # advanced indexing copies: the caller's tensor is never touched
        if not x.shape[0]:
            out.append(empty)
            continue
        scores = x[:, 5:] * x[:, 4:5]
        boxes = xywh2xyxy(x[:, :4])
        if multi_label:
            i, j = (scores > conf_thres).nonzero(as_tuple=True)
            score = scores[i, j]
        else:
            score, j = scores.max(1)
            i = (score > conf_thres).nonzero(as_tuple=True)[0]
            score, j = score[i], j[i]
        if class_filter is not None:
            m = torch.isin(j, class_filter)
            i, j, score = i[m], j[m], score[m]
        if not score.numel():
            out.append(empty)
            continue
        # Highest scores first, at most max_nms of them (upstream: sort then truncate).
        order = score.topk(min(max_nms, score.numel())).indices
        i, j, score = i[order], j[order], score[order]
        k = _nms_top(boxes[i], score, torch.zeros_like(j) if agnostic else j, iou_thres, max_det)
        out.append(torch.cat((boxes[i[k]], score[k, None], j[k, None].float()), 1))
    return out


def _nms_top(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_thres: float, max_det: int
) -> torch.Tensor:
    """First ``max_det`` survivors of greedy batched NMS over score-sorted inputs.

    Whether a box survives greedy NMS depends only on higher-scoring boxes, so NMS over a
    score-sorted prefix that already yields ``max_det`` survivors gives exactly the same top
    ``max_det`` as NMS over everything.  Try a short prefix first, fall back to all boxes.
    """
    n = scores.numel()
    prefix = _PREFIX_FACTOR * max_det
    if prefix < n:
        keep = batched_nms(boxes[:prefix], scores[:prefix], groups[:prefix], iou_thres)
        if keep.numel() >= max_det:
            return keep[:max_det]
    return batched_nms(boxes, scores, groups, iou_thres)[:max_det]

