"""YOLOv5 Detect and YOLOv7 IDetect heads: one 1x1 conv per level, optional implicit layers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from yololab.layers.implicit import ImplicitA, ImplicitM


class DetectHead(nn.Module):
    """Returns one raw map per level, shaped (batch, anchors, height, width, 5 + classes).

    ``anchors`` are in pixels (as in upstream YAML files), one row of (w, h) pairs per level.
    ``implicit=True`` gives YOLOv7's IDetect (ImplicitA before, ImplicitM after the conv).
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int,
                 anchors: Sequence[Sequence[float]], strides: Sequence[int],
                 implicit: bool = False) -> None:
        super().__init__()
        if len(in_channels) != len(anchors) or len(anchors) != len(strides):
            raise ValueError("in_channels, anchors and strides need one entry per level")
        self.num_classes = num_classes
        self.num_outputs = num_classes + 5
        self.num_anchors = len(anchors[0]) // 2
        anchor_tensor = torch.tensor(anchors, dtype=torch.float32).view(len(anchors), -1, 2)
        self.register_buffer("anchors", anchor_tensor)
        self.register_buffer("strides", torch.tensor(strides, dtype=torch.float32))
        out = self.num_anchors * self.num_outputs
        self.m = nn.ModuleList(nn.Conv2d(c, out, 1) for c in in_channels)
        self.implicit = implicit
        if implicit:
            self.ia = nn.ModuleList(ImplicitA(c) for c in in_channels)
            self.im = nn.ModuleList(ImplicitM(out) for _ in in_channels)
        self.reset_biases()

    @torch.no_grad()
    def reset_biases(self, image_size: int = 640) -> None:
        """Upstream prior: about 8 objects per 640 image, class prior 0.6 / classes."""
        for conv, stride in zip(self.m, self.strides.tolist()):
            bias = conv.bias.view(self.num_anchors, -1)
            bias[:, 4] += math.log(8 / (image_size / stride) ** 2)
            bias[:, 5:] += math.log(0.6 / (self.num_classes - 0.99))

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        outputs = []
        for i, x in enumerate(features):
            if self.implicit:
                x = self.im[i](self.m[i](self.ia[i](x)))
            else:
                x = self.m[i](x)
            b, _, h, w = x.shape
            x = x.view(b, self.num_anchors, self.num_outputs, h, w).permute(0, 1, 3, 4, 2)
            outputs.append(x.contiguous())
        return outputs

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the implicit layers into the 1x1 convs (turns IDetect into a plain Detect)."""
        if not self.implicit:
            return
        for conv, ia, im in zip(self.m, self.ia, self.im):
            weight = conv.weight.view(conv.out_channels, conv.in_channels)
            conv.bias += weight @ ia.implicit.view(-1)
            scale = im.implicit.view(-1)
            conv.bias *= scale
            conv.weight *= scale.view(-1, 1, 1, 1)
        del self.ia, self.im
        self.implicit = False
