"""Conv2d + BatchNorm + activation, the unit every YOLO layer is made of."""

from __future__ import annotations

import torch
from torch import nn

# Upstream YOLOv5/YOLOv7 initialise every BatchNorm with these values.
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def autopad(kernel: int, padding: int | None = None) -> int:
    """'Same' padding for odd kernels, as upstream."""
    return kernel // 2 if padding is None else padding


def make_act(act: str) -> nn.Module:
    """Activation by name: 'silu' (YOLOv5, YOLOv7) or 'leaky' (YOLOv7-tiny, slope 0.1)."""
    if act == "silu":
        return nn.SiLU(inplace=True)
    if act == "leaky":
        return nn.LeakyReLU(0.1, inplace=True)
    if act == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {act!r}; expected 'silu', 'leaky' or 'none'")


def make_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Fold a BatchNorm into the preceding convolution (returns a new conv with bias)."""
    fused = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
        conv.padding, conv.dilation, conv.groups, bias=True,
    ).to(conv.weight.device)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias)
    return fused


class Conv(nn.Module):
    """conv -> bn -> act. Parameter names (conv.*, bn.*) follow upstream so checkpoints map 1:1."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, p: int | None = None,
                 act: str = "silu") -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, autopad(k, p), bias=False)
        self.bn: nn.Module = make_bn(c_out)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        """Fold bn into conv; afterwards bn is an Identity."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn(self.conv, self.bn)
            self.bn = nn.Identity()
