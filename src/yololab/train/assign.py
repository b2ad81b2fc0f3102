"""Target assignment: YOLOv5 anchor-ratio matching with neighbour cells, and YOLOv7 OTA.

Both return one :class:`LevelTargets` per detection level, which the loss consumes.
Anchors here are in *grid units* of their level (pixels / stride).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import box_convert, box_iou

# centre cell, then the cell to the left, above, right and below (scaled by the 0.5 bias)
_OFFSETS = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float32)


@dataclass
class LevelTargets:
    """Positive samples on one level: where they sit and what they should predict.

    ``box`` is (n, 4): centre relative to the cell's top-left corner (gi, gj) and size,
    both in grid units; ``anchor_wh`` (n, 2) is the matched anchor in grid units.
    """

    image: torch.Tensor      # (n,) long, image index in the batch
    anchor: torch.Tensor     # (n,) long, anchor index on this level
    gj: torch.Tensor         # (n,) long, grid row
    gi: torch.Tensor         # (n,) long, grid column
    box: torch.Tensor        # (n, 4) float
    anchor_wh: torch.Tensor  # (n, 2) float
    cls: torch.Tensor        # (n,) long

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @classmethod
    def empty(cls, device: torch.device) -> "LevelTargets":
        long = torch.zeros(0, dtype=torch.long, device=device)
        return cls(long, long, long, long, torch.zeros(0, 4, device=device),
                   torch.zeros(0, 2, device=device), long)

    @classmethod
    def cat(cls, parts: Sequence["LevelTargets"], device: torch.device) -> "LevelTargets":
        if not parts:
            return cls.empty(device)
        return cls(*(torch.cat([getattr(p, f) for p in parts]) for f in
                     ("image", "anchor", "gj", "gi", "box", "anchor_wh", "cls")))


def match_anchors(targets: torch.Tensor, grid_sizes: Sequence[tuple[int, int]],
                  anchors: torch.Tensor, anchor_t: float = 4.0, bias: float = 0.5) -> list[LevelTargets]:
    """YOLOv5 ``build_targets``: every (target, anchor) pair whose w and h ratios are within
    ``anchor_t`` is assigned to its centre cell plus the two neighbouring cells nearest the
    centre (those within ``bias`` of a cell border, never outside the grid).

    targets: (n, 6) [image, class, cx, cy, w, h] normalised to the image; grid_sizes: (h, w)
    per level; anchors: (levels, na, 2) in grid units.
    """
    device = targets.device
    dtype = torch.promote_types(targets.dtype, torch.float32)  # float64 targets are matched in float64
    offsets = _OFFSETS.to(device, dtype) * bias
    out = []
    for level, (h, w) in enumerate(grid_sizes):
        level_anchors = anchors[level].to(device=device, dtype=dtype)
        gain = torch.tensor([1.0, 1.0, w, h, w, h], device=device, dtype=dtype)
        t = targets.to(dtype) * gain
        if t.shape[0] == 0:
            out.append(LevelTargets.empty(device))
            continue
        ratio = t[None, :, 4:6] / level_anchors[:, None]                  # (na, n, 2)
        keep = torch.max(ratio, 1.0 / ratio).amax(dim=2) < anchor_t        # (na, n)
        anchor_idx, target_idx = keep.nonzero(as_tuple=True)              # anchor-major order
        t = t[target_idx]
        gxy = t[:, 2:4]
        gxy_inv = gain[[2, 3]] - gxy
        left, up = ((gxy % 1 < bias) & (gxy > 1)).T
        right, down = ((gxy_inv % 1 < bias) & (gxy_inv > 1)).T
        use = torch.stack((torch.ones_like(left), left, up, right, down))  # (5, m)
        t = t.repeat(5, 1, 1)[use]
        anchor_idx = anchor_idx.repeat(5, 1)[use]
        cell_offsets = offsets[:, None].expand(5, use.shape[1], 2)[use]
        gxy = t[:, 2:4]
        gij = (gxy - cell_offsets).long()
        gi = gij[:, 0].clamp(0, w - 1)
        gj = gij[:, 1].clamp(0, h - 1)
        cell = torch.stack((gi, gj), dim=1).to(dtype)
        out.append(LevelTargets(
            image=t[:, 0].long(), anchor=anchor_idx, gj=gj, gi=gi,
            box=torch.cat((gxy - cell, t[:, 4:6]), dim=1),
            anchor_wh=level_anchors[anchor_idx], cls=t[:, 1].long()))
    return out


def _decode_candidates(preds: Sequence[torch.Tensor], candidates: Sequence[LevelTargets],
                       strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidates' predicted boxes (xyxy, pixels), class logits and objectness logits."""
    boxes, cls_logits, obj_logits = [], [], []
    for level, (pi, c) in enumerate(zip(preds, candidates)):
        ps = pi[c.image, c.anchor, c.gj, c.gi]
        ps = ps.to(torch.promote_types(ps.dtype, torch.float32))
        stride = float(strides[level])
        cell = torch.stack((c.gi, c.gj), dim=1).to(ps.dtype)
        xy = (ps[:, :2].sigmoid() * 2 - 0.5 + cell) * stride
        wh = (ps[:, 2:4].sigmoid() * 2) ** 2 * c.anchor_wh * stride
        boxes.append(box_convert(torch.cat((xy, wh), 1), "cxcywh", "xyxy"))
        obj_logits.append(ps[:, 4])
        cls_logits.append(ps[:, 5:])
    return torch.cat(boxes), torch.cat(cls_logits), torch.cat(obj_logits)


@torch.no_grad()
def ota_assign(preds: Sequence[torch.Tensor], targets: torch.Tensor, anchors: torch.Tensor,
               strides: torch.Tensor, num_classes: int, anchor_t: float = 4.0,
               top_candidates: int = 10, iou_weight: float = 3.0) -> list[LevelTargets]:
    """YOLOv7 ``ComputeLossOTA.build_targets``: SimOTA on top of the YOLOv5 candidates.

    Per image: cost = class BCE of sqrt(sig(cls) * sig(obj)) + 3 * -log(IoU); each target
    takes its ``dynamic_k`` cheapest candidates (k = clamp(sum of its top-10 IoUs), >= 1);
    a candidate claimed by several targets keeps only the cheapest. Image size comes from the
    maps (level-0 grid * stride), so non-square inputs work (upstream assumes square).
    """
    device = preds[0].device
    dtype = torch.promote_types(preds[0].dtype, torch.float32)  # float64 predictions: all in float64
    targets = targets.to(device, dtype)
    grid_sizes = [(p.shape[2], p.shape[3]) for p in preds]
    candidates = match_anchors(targets, grid_sizes, anchors, anchor_t)
    stride0 = float(strides[0])
    image_wh = torch.tensor([grid_sizes[0][1] * stride0, grid_sizes[0][0] * stride0], device=device, dtype=dtype)
    boxes, cls_logits, obj_logits = _decode_candidates(preds, candidates, strides)
    level_of = torch.cat([torch.full((len(c),), i, device=device, dtype=torch.long)
                          for i, c in enumerate(candidates)])
    flat = LevelTargets.cat(candidates, device)

    picked: list[list[LevelTargets]] = [[] for _ in preds]
    for b in range(preds[0].shape[0]):
        gt = targets[targets[:, 0] == b]
        cand = (flat.image == b).nonzero(as_tuple=True)[0]
        if gt.shape[0] == 0 or cand.numel() == 0:
            continue
        gt_xywh = gt[:, 2:6] * image_wh.repeat(2)
        iou = box_iou(box_convert(gt_xywh, "cxcywh", "xyxy"), boxes[cand])      # (g, c)
        dynamic_k = iou.topk(min(top_candidates, cand.numel()), dim=1).values.sum(1).int().clamp(min=1)
        score = (cls_logits[cand].sigmoid() * obj_logits[cand, None].sigmoid()).sqrt()
        score = score.clamp(1e-7, 1 - 1e-7)                                      # (c, nc)
        onehot = F.one_hot(gt[:, 1].long(), num_classes).to(dtype)               # (g, nc)
        cls_cost = F.binary_cross_entropy(score[None].expand(gt.shape[0], -1, -1),
                                          onehot[:, None].expand(-1, cand.numel(), -1),
                                          reduction="none").sum(-1)
        cost = cls_cost + iou_weight * -torch.log(iou + 1e-8)
        order = cost.argsort(dim=1)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(cand.numel(), device=device).expand_as(order))
        matching = rank < dynamic_k[:, None]                                     # (g, c)
        shared = matching.sum(0) > 1
        if shared.any():
            best = cost[:, shared].argmin(0)
            matching[:, shared] = False
            matching[best, shared.nonzero(as_tuple=True)[0]] = True
        fg = matching.any(0)
        gt_idx = matching[:, fg].float().argmax(0)
        sel = cand[fg]
        matched = gt[gt_idx]
        for level in range(len(preds)):
            on_level = level_of[sel] == level
            idx = sel[on_level]
            if idx.numel() == 0:
                continue
            h, w = grid_sizes[level]
            t = matched[on_level]
            cell = torch.stack((flat.gi[idx], flat.gj[idx]), dim=1).to(dtype)
            grid_xywh = t[:, 2:6] * torch.tensor([w, h, w, h], device=device, dtype=t.dtype)
            picked[level].append(LevelTargets(
                image=flat.image[idx], anchor=flat.anchor[idx], gj=flat.gj[idx], gi=flat.gi[idx],
                box=torch.cat((grid_xywh[:, :2] - cell, grid_xywh[:, 2:]), 1),
                anchor_wh=flat.anchor_wh[idx], cls=t[:, 1].long()))
    return [LevelTargets.cat(parts, device) for parts in picked]
