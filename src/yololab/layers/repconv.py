"""RepVGG-style re-parameterisable 3x3 conv used at YOLOv7's outputs."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from yololab.layers.conv import fuse_conv_bn, make_act, make_bn


class RepConv(nn.Module):
    """Training: act(bn(conv3x3) + bn(conv1x1) [+ bn(x)]). After ``fuse()``: act(conv3x3).

    Branch names (rbr_dense, rbr_1x1, rbr_identity) follow upstream so weights map 1:1.
    """

    def __init__(self, c_in: int, c_out: int, s: int = 1, act: str = "silu") -> None:
        super().__init__()
        self.act = make_act(act)
        self.rbr_identity = make_bn(c_in) if c_in == c_out and s == 1 else None
        self.rbr_dense = nn.Sequential(nn.Conv2d(c_in, c_out, 3, s, 1, bias=False), make_bn(c_out))
        self.rbr_1x1 = nn.Sequential(nn.Conv2d(c_in, c_out, 1, s, 0, bias=False), make_bn(c_out))
        self.rbr_reparam: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rbr_reparam is not None:
            return self.act(self.rbr_reparam(x))
        identity = self.rbr_identity(x) if self.rbr_identity is not None else 0
        return self.act(self.rbr_dense(x) + self.rbr_1x1(x) + identity)

    @torch.no_grad()
    def fuse(self) -> None:
        """Re-parameterise the three branches into one 3x3 conv with bias."""
        if self.rbr_reparam is not None:
            return
        dense = fuse_conv_bn(*self.rbr_dense)
        one = fuse_conv_bn(*self.rbr_1x1)
        weight = dense.weight + F.pad(one.weight, [1, 1, 1, 1])
        bias = dense.bias + one.bias
        if self.rbr_identity is not None:
            bn = self.rbr_identity
            channels = bn.num_features
            eye = torch.zeros_like(dense.weight)
            eye[torch.arange(channels), torch.arange(channels), 1, 1] = 1.0
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            weight = weight + eye * scale.view(-1, 1, 1, 1)
            bias = bias + bn.bias - bn.running_mean * scale
        dense.weight.copy_(weight)
        dense.bias.copy_(bias)
        self.rbr_reparam = dense
        del self.rbr_dense, self.rbr_1x1
        self.rbr_identity = None
