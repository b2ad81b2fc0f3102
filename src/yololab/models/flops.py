"""GFLOPs the upstream way: 2 x multiply-adds for one image, counted by torch.utils.flop_counter."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_gflops(model: nn.Module, image_size: int | tuple[int, int] = 640, fuse: bool = True) -> float:
    """GFLOPs of one forward pass on a 1xCxHxW input (C: the model's ``in_channels``) (torch counts a multiply-add as 2 FLOPs).

    ``fuse`` counts the deploy (fused) form, as upstream's model summary does; the model
    passed in is left untouched.
    """
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    probe = copy.deepcopy(model).eval()
    if fuse and hasattr(probe, "fuse"):
        probe.fuse()
    device = next(probe.parameters()).device
    x = torch.zeros(1, getattr(probe, "in_channels", 3), h, w, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        probe(x)
    return counter.get_total_flops() / 1e9
