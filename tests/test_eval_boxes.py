"""Box conversions and letterbox round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yololab.eval.boxes import clip_boxes, letterbox_params, scale_boxes, xywh2xyxy, xyxy2ltwh, xyxy2xywh


def test_conversions_round_trip_torch_and_numpy():
    xyxy = torch.tensor([[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 1.0, 2.0]])
    xywh = xyxy2xywh(xyxy)
    torch.testing.assert_close(xywh, torch.tensor([[30.0, 50.0, 40.0, 60.0], [0.5, 1.0, 1.0, 2.0]]))
    torch.testing.assert_close(xywh2xyxy(xywh), xyxy)
    np.testing.assert_allclose(xywh2xyxy(xyxy2xywh(xyxy.numpy())), xyxy.numpy())
    np.testing.assert_allclose(xyxy2ltwh(xyxy.numpy()), [[10, 20, 40, 60], [0, 0, 1, 2]])
    assert xywh2xyxy(np.array([[2, 2, 2, 2]])).dtype.kind == "f"  # integer input does not truncate


def test_clip_boxes_does_not_modify_input():
    b = torch.tensor([[-5.0, -1.0, 120.0, 70.0, 0.5, 3.0]])
    c = clip_boxes(b, (60, 100))
    assert c.tolist() == [[0.0, 0.0, 100.0, 60.0, 0.5, 3.0]]
    assert b[0, 0] == -5.0


def _letterbox_forward(boxes: np.ndarray, orig_hw, new_hw):
    """Where boxes of the original image land in a centred letterbox of size new_hw."""
    (g, _), (pw, ph) = letterbox_params(new_hw, orig_hw)
    out = boxes.copy()
    out[:, [0, 2]] = out[:, [0, 2]] * g + pw
    out[:, [1, 3]] = out[:, [1, 3]] * g + ph
    return out


@pytest.mark.parametrize("orig_hw", [(480, 640), (640, 427), (333, 500), (640, 640)])
def test_scale_boxes_letterbox_round_trip(orig_hw):
    rng = np.random.default_rng(0)
    h, w = orig_hw
    x1, y1 = rng.uniform(0, w - 20, 50), rng.uniform(0, h - 20, 50)
    orig = np.stack([x1, y1, x1 + rng.uniform(1, 20, 50), y1 + rng.uniform(1, 20, 50)], 1)
    lb = _letterbox_forward(orig, orig_hw, (640, 640))
    np.testing.assert_allclose(scale_boxes(lb, (640, 640), orig_hw), orig, atol=1e-9)
    got = scale_boxes(torch.from_numpy(lb).float(), (640, 640), orig_hw)
    np.testing.assert_allclose(got.numpy(), orig, atol=1e-3)


def test_scale_boxes_with_dataset_ratio_pad_and_clipping():
    # 480x640 image -> 384x512 content centred in a 416x512 rectangular batch shape (pad 16 top/bottom)
    ratio_pad = ((384 / 480, 512 / 640), (0.0, 16.0))
    lb = np.array([[0.0, 16.0, 512.0, 400.0, 0.5, 1.0], [-10.0, 0.0, 40.0, 30.0, 0.4, 2.0]])
    out = scale_boxes(lb, (416, 512), (480, 640), ratio_pad=ratio_pad)
    np.testing.assert_allclose(out[0], [0, 0, 640, 480, 0.5, 1.0])
    np.testing.assert_allclose(out[1], [0, 0, 50, 17.5, 0.4, 2.0])  # clipped to the image
    np.testing.assert_allclose(scale_boxes(lb, (416, 512), (480, 640), ratio_pad, clip=False)[1, 0], -12.5)
    assert lb[1, 0] == -10.0  # input untouched
