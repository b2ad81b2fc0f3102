"""Upstream parity of the 8 default models: parameters, fusion and GFLOPs."""

from __future__ import annotations

import pytest
import torch

from yololab import build_model
from yololab.models.flops import count_gflops

# Upstream facts from ../shared/DATA.md (80 classes, training-time model, GFLOPs at 640).
UPSTREAM = {
    "yolov5n": (1_872_157, 4.6), "yolov5s": (7_235_389, 16.6), "yolov5m": (21_190_557, 49.2),
    "yolov5l": (46_563_709, 109.6), "yolov5x": (86_749_405, 206.3),
    "yolov7-tiny": (6_228_762, 13.9), "yolov7": (37_622_682, 106.5), "yolov7x": (71_347_394, 190.6),
}
# Upstream prints "YOLOv5n summary: 124 layers, 1,867,405 parameters, 4.5 GFLOPs" for the fused model.
YOLOV5N_FUSED = (1_867_405, 4.5)


@pytest.mark.parametrize("name", list(UPSTREAM))
def test_parameter_count_equals_upstream(name: str) -> None:
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == UPSTREAM[name][0]


@pytest.mark.parametrize("name", list(UPSTREAM))
def test_fuse_keeps_outputs_and_gflops_match_upstream(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    # Non-trivial BN statistics so that folding is really exercised.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 64, 96)  # every layer runs (P5 is 2 x 3); BN folding does not depend on the size
    with torch.no_grad():
        before = model(x)
        # convolution FLOPs scale with H x W (64 and 640 are multiples of every stride): counted at 64 px and
        # scaled, which the 640 px count of the smallest model checks
        gflops = count_gflops(model, 64, fuse=True) * 100
        if name in ("yolov5n", "yolov7-tiny"):
            assert count_gflops(model, 640, fuse=True) == pytest.approx(gflops, rel=1e-9)
        params_before = sum(p.numel() for p in model.parameters())
        model.fuse()
        after = model(x)
    assert sum(p.numel() for p in model.parameters()) < params_before
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    reference = YOLOV5N_FUSED[1] if name == "yolov5n" else UPSTREAM[name][1]
    assert abs(gflops - reference) / reference < 0.02, (gflops, reference)


def test_yolov5n_fused_parameters_equal_upstream() -> None:
    model = build_model("yolov5n").fuse()
    assert sum(p.numel() for p in model.parameters()) == YOLOV5N_FUSED[0]
