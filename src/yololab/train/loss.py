"""YOLOv5 loss (CIoU box, IoU-targeted objectness, class BCE), with YOLOv7's OTA as an option."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_convert, complete_box_iou_loss

from yololab.train.assign import LevelTargets, match_anchors, ota_assign
from yololab.train.hyp import Hyperparameters

ASSIGNERS = ("yolov5", "ota")
LAYER_BALANCE = {3: (4.0, 1.0, 0.4)}
LAYER_BALANCE_DEFAULT = (4.0, 1.0, 0.25, 0.06, 0.02)   # P3-P7


class BCEWithLogits(nn.Module):
    """Mean BCE-with-logits with a positive weight and optional focal modulation.

    With ``gamma > 0`` each element is scaled by alpha_t * (1 - p_t)^gamma (upstream FocalLoss).
    """

    def __init__(self, pos_weight: float = 1.0, gamma: float = 0.0, alpha: float = 0.25) -> None:
        super().__init__()
        self.register_buffer("pos_weight", torch.tensor([pos_weight]), persistent=False)
        self.gamma = gamma
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pos_weight = self.pos_weight.to(device=logits.device, dtype=logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
        if self.gamma > 0:
            prob = logits.sigmoid()
            p_t = target * prob + (1 - target) * (1 - prob)
            alpha_t = target * self.alpha + (1 - target) * (1 - self.alpha)
            loss = loss * alpha_t * (1.0 - p_t) ** self.gamma
        return loss.mean()


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The loss's working precision for inputs like ``x``: float32, or float64 for float64 inputs."""
    return torch.promote_types(x.dtype, torch.float32)


def ciou(pred_xywh: torch.Tensor, target_xywh: torch.Tensor) -> torch.Tensor:
    """Complete IoU of matching rows of two (n, 4) cx,cy,w,h sets (torchvision's CIoU)."""
    dtype = compute_dtype(pred_xywh)
    pred = box_convert(pred_xywh.to(dtype), "cxcywh", "xyxy")
    target = box_convert(target_xywh.to(dtype), "cxcywh", "xyxy")
    return 1.0 - complete_box_iou_loss(pred, target, reduction="none")


class YOLOLoss(nn.Module):
    """Upstream ``ComputeLoss`` (``assigner='yolov5'``) or ``ComputeLossOTA`` (``assigner='ota'``).

    ``anchors`` (levels, na, 2) are in input pixels, as in ``model.head.anchors``; the gains in
    ``hyp`` are used as given (scale them with :func:`~yololab.train.hyp.scale_loss_gains`).
    Calling returns ``(total * batch_size, tensor([box, obj, cls]).detach())``.
    """

    def __init__(self, anchors: torch.Tensor, strides: torch.Tensor | Sequence[float], num_classes: int,
                 hyp: Hyperparameters | None = None, assigner: str = "yolov5", gr: float = 1.0) -> None:
        super().__init__()
        if assigner not in ASSIGNERS:
            raise ValueError(f"unknown assigner {assigner!r}; valid: {', '.join(ASSIGNERS)}")
        hyp = hyp or Hyperparameters()
        strides = torch.as_tensor(strides, dtype=torch.float32)
        if anchors.ndim != 3 or anchors.shape[0] != strides.numel() or anchors.shape[2] != 2:
            raise ValueError(f"anchors must be (levels, na, 2) with one level per stride, got {tuple(anchors.shape)}")
        # plain attributes, not buffers: they may share storage with the head's buffers
        self.anchors_px = anchors
        self.strides = strides
        self.num_classes = num_classes
        self.num_layers = int(strides.numel())
        self.hyp = hyp
        self.assigner = assigner
        self.gr = gr
        self.balance = LAYER_BALANCE.get(self.num_layers, LAYER_BALANCE_DEFAULT)
        self.cls_pos, self.cls_neg = 1.0 - 0.5 * hyp.label_smoothing, 0.5 * hyp.label_smoothing
        self.bce_cls = BCEWithLogits(hyp.cls_pw, hyp.fl_gamma)
        self.bce_obj = BCEWithLogits(hyp.obj_pw, hyp.fl_gamma)

    @classmethod
    def from_model(cls, model: nn.Module, hyp: Hyperparameters | None = None,
                   assigner: str = "yolov5", gr: float = 1.0) -> "YOLOLoss":
        """Read anchors, strides and classes from ``model.head`` (unwrapping DataParallel/DDP)."""
        head = getattr(model, "module", model).head
        return cls(head.anchors.detach(), head.strides.detach(), head.num_classes, hyp, assigner, gr)

    def grid_anchors(self, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Anchors in grid units of their level, (levels, na, 2)."""
        return self.anchors_px.to(device, dtype) / self.strides.to(device, dtype)[:, None, None]

    def assign(self, preds: Sequence[torch.Tensor], targets: torch.Tensor) -> list[LevelTargets]:
        device, dtype = preds[0].device, compute_dtype(preds[0])
        targets = targets.to(device, dtype)
        anchors = self.grid_anchors(device, dtype)
        if self.assigner == "ota":
            return ota_assign(preds, targets, anchors, self.strides.to(device), self.num_classes,
                              self.hyp.anchor_t)
        return match_anchors(targets, [(p.shape[2], p.shape[3]) for p in preds], anchors, self.hyp.anchor_t)

    def forward(self, preds: Sequence[torch.Tensor], targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device, dtype = preds[0].device, compute_dtype(preds[0])
        lbox = torch.zeros((), device=device, dtype=dtype)
        lobj = torch.zeros((), device=device, dtype=dtype)
        lcls = torch.zeros((), device=device, dtype=dtype)
        for level, (pi, t) in enumerate(zip(preds, self.assign(preds, targets))):
            tobj = torch.zeros(pi.shape[:4], dtype=pi.dtype, device=device)
            if len(t):
                ps = pi[t.image, t.anchor, t.gj, t.gi]
                pxy = ps[:, :2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * t.anchor_wh
                iou = ciou(torch.cat((pxy, pwh), 1), t.box)
                lbox = lbox + (1.0 - iou).mean()
                score = iou.detach().clamp(min=0)
                if self.gr < 1:
                    score = (1.0 - self.gr) + self.gr * score
                tobj[t.image, t.anchor, t.gj, t.gi] = score.to(tobj.dtype)
                if self.num_classes > 1:
                    tcls = torch.full_like(ps[:, 5:], self.cls_neg)
                    tcls[torch.arange(len(t), device=device), t.cls] = self.cls_pos
                    lcls = lcls + self.bce_cls(ps[:, 5:], tcls)
            lobj = lobj + self.bce_obj(pi[..., 4], tobj) * self.balance[level]
        lbox = lbox * self.hyp.box
        lobj = lobj * self.hyp.obj
        lcls = lcls * self.hyp.cls
        batch_size = preds[0].shape[0]
        return (lbox + lobj + lcls) * batch_size, torch.stack((lbox, lobj, lcls)).detach()
