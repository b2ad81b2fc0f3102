"""Generated from the registry: every backbone gives strides 8/16/32 with its declared channels,
and builds into yolov5s and yolov7-tiny with a working forward pass at 320."""

from __future__ import annotations

import pytest
import torch

from yololab import build_model, list_backbones
from yololab.backbones import BackboneRequest, create_backbone

EXTRA = ["timm:mobilenetv3_large_100", "timm:convnext_atto", "torchvision:resnet50",
         "torchvision:resnet101"]
NAMES = [n for n in list_backbones() if not n.endswith("<name>")] + EXTRA


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(1, 3, 320, 320)


@pytest.mark.parametrize("name", NAMES)
def test_backbone_contract_and_detectors(name: str, image: torch.Tensor) -> None:
    backbone = create_backbone(BackboneRequest(name)).eval()
    with torch.no_grad():
        features = backbone(image)
    assert [f.shape[1] for f in features] == list(backbone.channels)
    assert [320 // f.shape[-1] for f in features] == [8, 16, 32]
    assert [i["reduction"] for i in backbone.feature_info] == [8, 16, 32]
    for family in ("yolov5s", "yolov7-tiny"):
        model = build_model(family, backbone=name, num_classes=7).eval()
        with torch.no_grad():
            raw = model(image)
        assert [tuple(r.shape) for r in raw] == [(1, 3, 40, 40, 12), (1, 3, 20, 20, 12), (1, 3, 10, 10, 12)]
        assert torch.isfinite(model.decode(raw)).all()


def test_swapped_backbone_keeps_family_neck_and_head() -> None:
    own = build_model("yolov5s")
    swapped = build_model("yolov5s", backbone="resnet50")
    assert swapped.parameter_counts()["neck_params"] == own.parameter_counts()["neck_params"]
    assert swapped.parameter_counts()["head_params"] == own.parameter_counts()["head_params"]
    assert own.parameter_counts()["adapter_params"] == 0
    # resnet50 gives 512/1024/2048 channels; the yolov5s neck expects 128/256/512.
    assert swapped.parameter_counts()["adapter_params"] > 0


def test_unknown_backbone_lists_valid_names() -> None:
    with pytest.raises(KeyError, match="resnet50.*timm:<name>"):
        build_model("yolov5s", backbone="resnet5O")


def test_timm_model_without_stride_32_features_is_refused() -> None:
    with pytest.raises((ValueError, RuntimeError)):
        build_model("yolov5s", backbone="timm:vit_tiny_patch16_224")


def test_duplicate_registration_is_an_error() -> None:
    from yololab.backbones import register_backbone

    with pytest.raises(ValueError, match="already registered"):
        register_backbone("resnet50")(lambda request: None)


@pytest.mark.parametrize("name", ["resnet50", "hgnetv2_b0", "timm:mobilenetv3_large_100", "torchvision:resnet50"])
def test_fuse_folds_third_party_batchnorms(name: str) -> None:
    torch.manual_seed(0)
    model = build_model("yolov5n", backbone=name, num_classes=3).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        before = model(x)
        model.fuse()
        after = model(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
