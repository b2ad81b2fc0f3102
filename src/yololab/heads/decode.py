"""Turn raw head maps into boxes (xywh, pixels), objectness and class probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def make_grids(height: int, width: int, anchors: torch.Tensor, stride: float,
               device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell offsets (1, 1, h, w, 2) and anchor sizes in pixels (1, na, 1, 1, 2) for one level."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                            torch.arange(width, device=device, dtype=dtype), indexing="ij")
    grid = torch.stack((xs, ys), dim=2).view(1, 1, height, width, 2) - 0.5
    anchor_grid = anchors.to(device=device, dtype=dtype).view(1, -1, 1, 1, 2)
    return grid * stride, anchor_grid


def decode_predictions(raw: Sequence[torch.Tensor], anchors: torch.Tensor,
                       strides: torch.Tensor) -> torch.Tensor:
    """YOLOv5/YOLOv7 decoding: xy = (2*sig - 0.5 + cell) * stride, wh = (2*sig)^2 * anchor.

    Returns (batch, sum of na*h*w, 5 + classes): cx, cy, w, h in input pixels, objectness
    and class probabilities (sigmoids).
    """
    decoded = []
    for level, x in enumerate(raw):
        b, na, h, w, no = x.shape
        stride = float(strides[level])
        grid, anchor_grid = make_grids(h, w, anchors[level], stride, x.device, x.dtype)
        y = x.sigmoid()
        xy = y[..., :2] * (2 * stride) + grid
        wh = (y[..., 2:4] * 2) ** 2 * anchor_grid
        decoded.append(torch.cat((xy, wh, y[..., 4:]), dim=-1).view(b, na * h * w, no))
    return torch.cat(decoded, dim=1)
