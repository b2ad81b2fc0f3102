"""Pretrained backbones from local files in timm's and torchvision's formats, and offline errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

from yololab import build_model
from yololab.backbones.pretrained import PretrainedWeightsError


def test_timm_safetensors_file_is_loaded(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = timm.create_model("resnet50")  # a full classifier, as timm ships it
    path = tmp_path / "model.safetensors"
    save_file(source.state_dict(), str(path))
    model = build_model("yolov5s", backbone="resnet50", pretrained_backbone=str(path))
    body = model.backbone.body
    assert torch.equal(body.conv1.weight, source.conv1.weight)
    assert torch.equal(body.layer4[2].conv3.weight, source.layer4[2].conv3.weight)
    assert model.backbone.load_report == {"missing": [], "unexpected": []}


def test_timm_file_with_missing_keys_is_reported(tmp_path: Path, caplog) -> None:
    state = timm.create_model("resnet50").state_dict()
    del state["layer1.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with caplog.at_level(logging.WARNING, logger="yololab"):
        model = build_model("yolov5n", backbone="resnet50", pretrained_backbone=path)
    assert model.backbone.load_report["missing"] == ["layer1.0.conv1.weight"]
    assert model.backbone.load_report["unexpected"] == ["extra.weight"]
    assert "1 missing keys" in caplog.text


def test_torchvision_format_file_is_loaded(tmp_path: Path) -> None:
    torch.manual_seed(2)
    source = torchvision.models.resnet50()
    path = tmp_path / "resnet50-tv.pth"
    torch.save(source.state_dict(), path)
    model = build_model("yolov5s", backbone="torchvision:resnet50", pretrained_backbone=path)
    assert torch.equal(model.backbone.layer3[0].conv2.weight, source.layer3[0].conv2.weight)
    assert model.backbone.load_report["missing"] == []
    assert model.backbone.load_report["unexpected"] == []
    assert not any(k.startswith("fc.") for k in model.backbone.state_dict())  # classifier dropped


def test_unreadable_weights_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(PretrainedWeightsError, match="broken.pth"):
        build_model("yolov5s", backbone="resnet50", pretrained_backbone=path)
    with pytest.raises(PretrainedWeightsError, match="not found"):
        build_model("yolov5s", backbone="resnet50", pretrained_backbone=tmp_path / "absent.pth")


@pytest.mark.parametrize("backbone", ["resnet50", "torchvision:resnet50"])
def test_offline_download_fails_with_instructions(backbone: str) -> None:
    from yololab.backbones.pretrained import host_reachable

    if host_reachable("huggingface.co") or host_reachable("download.pytorch.org"):
        pytest.skip("a model hub is reachable here; this test checks the offline message")
    with pytest.raises(PretrainedWeightsError, match="(?i)download https://"):
        build_model("yolov5s", backbone=backbone, pretrained_backbone=True)
