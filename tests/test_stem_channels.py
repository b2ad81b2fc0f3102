"""in_channels: every backbone builds for 1/3/N channels; pretrained RGB stems are adapted by timm's rule
(timm.models.adapt_input_conv) exactly: the adapted model on a grayscale image equals the RGB model on
that image replicated to three channels."""

from __future__ import annotations

import logging

import pytest
import torch

from yololab.backbones import BackboneRequest, create_backbone
from yololab.backbones.stem import StemAdaptation
from yololab.errors import ConfigError
from yololab.models.build import build_model
from yololab.models.checkpoints import atomic_save, load_model, model_checkpoint, save_model

pytestmark = pytest.mark.usefixtures("one_thread")


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def gray_photo(path, size: int = 256) -> torch.Tensor:
    """(1, 1, size, size) grayscale copy of a real photo, letterboxed, in [0, 1]."""
    from yololab.deploy.runtime.images import load_image, preprocess

    x, _ = preprocess([load_image(path)], size)
    return torch.from_numpy(x).mean(1, keepdim=True)


def test_upstream_yolov5n_one_channel_equals_gray_replicated(yolov5n_pt, coco128_image, caplog) -> None:
    rgb = load_model(yolov5n_pt)
    with caplog.at_level(logging.INFO, logger="yololab"):
        gray = load_model(yolov5n_pt, in_channels=1)
    assert any("adapted the stem of" in r.message and "from 3 to 1 input channels (timm adapt_input_conv"
               in r.message for r in caplog.records)
    record = gray.spec.stem_adaptation
    assert (record.from_channels, record.to_channels, record.layer) == (3, 1, "backbone.stem.conv")
    g = gray_photo(coco128_image)
    with torch.no_grad():
        for a, b in zip(gray(g), rgb(g.repeat(1, 3, 1, 1))):
            assert rel_diff(a, b) < 1e-4


def test_yolov7_stem_adapts_to_four_channels() -> None:
    model = build_model("yolov7-tiny", num_classes=2).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    from yololab.models.channels import adapt_input_channels

    adapt_input_channels(model, 4, "test")
    x4 = torch.cat((x, torch.zeros(1, 1, 64, 64)), 1) * 4 / 3  # the rule rescales the filters by 3/4
    with torch.no_grad():
        for a, b in zip(model(x4), ref):
            assert rel_diff(a, b) < 1e-4
    assert model.spec.stem_adaptation.layer == "backbone.stem.0.conv"


def _timm_file(tmp_path):
    import timm

    path = tmp_path / "resnet18_random.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), path)
    return path


def _torchvision_file(tmp_path):
    import torchvision

    path = tmp_path / "resnet18_tv_random.pth"
    torch.save(torchvision.models.get_model("resnet18", weights=None).state_dict(), path)
    return path


@pytest.mark.parametrize("kind", ["timm", "torchvision"])
def test_pretrained_backbone_file_adapted_for_1_and_4_channels(kind, tmp_path) -> None:
    weights = (_timm_file if kind == "timm" else _torchvision_file)(tmp_path)
    name = f"{kind}:resnet18"
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)

    def backbone(c: int):
        return create_backbone(BackboneRequest(name, pretrained=str(weights), in_channels=c)).eval()

    with torch.no_grad():
        ref = backbone(3)(x)
        one, four = backbone(1), backbone(4)
        gray = x.mean(1, keepdim=True)
        for a, b in zip(one(gray), backbone(3)(gray.repeat(1, 3, 1, 1))):
            assert rel_diff(a, b) < 1e-4
        for a, b in zip(four(torch.cat((x, torch.zeros(1, 1, 64, 64)), 1) * 4 / 3), ref):
            assert rel_diff(a, b) < 1e-4
    for bb, c in ((one, 1), (four, 4)):
        record = bb.stem_adaptation
        assert (record.from_channels, record.to_channels, record.source) == (3, c, str(weights))
        assert record.layer == ("backbone.body.conv1" if kind == "timm" else "backbone.conv1")
    model = build_model("yolov5n", name, 2, pretrained_backbone=weights, in_channels=4)
    assert model.spec.in_channels == 4 and model.spec.stem_adaptation == four.stem_adaptation


@pytest.mark.parametrize("name", ["cspdarknet", "elan", "hgnetv2_b0", "timm:resnet18", "torchvision:resnet18"])
@pytest.mark.parametrize("channels", [1, 4])
def test_every_kind_of_backbone_builds_for_n_channels(name, channels) -> None:
    model = build_model("yolov5n", name, 2, in_channels=channels).eval()
    assert model.spec.in_channels == channels and model.spec.stem_adaptation is None  # nothing pretrained
    with torch.no_grad():
        out = model(torch.rand(1, channels, 64, 64))
    assert out[0].shape[:2] == (1, 3)
    with pytest.raises(ValueError, match=f"\\(batch, {channels}, height, width\\)"):
        model(torch.rand(1, 3 if channels != 3 else 1, 64, 64))
    x = torch.rand(1, channels, 64, 64)
    with torch.no_grad():
        ref = model(x)
        for a, b in zip(model.fuse()(x), ref):  # third-party backbones fold BN on a C-channel probe
            assert rel_diff(a, b) < 1e-4


def test_bad_channel_count_is_a_config_error() -> None:
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ConfigError, match="in_channels must be a positive integer"):
            build_model("yolov5n", num_classes=1, in_channels=bad)


def test_checkpoint_keeps_channels_and_record_and_adapts_on_load(tmp_path, caplog) -> None:
    model = build_model("yolov5n", num_classes=2).eval()
    from yololab.models.channels import adapt_input_channels

    adapt_input_channels(model, 1, "yolov5n-rgb.pt")
    path = tmp_path / "gray.pt"
    save_model(model, path)
    again = load_model(path)
    assert again.spec.in_channels == 1
    assert again.spec.stem_adaptation == StemAdaptation(3, 1, model.spec.stem_adaptation.rule,
                                                        "backbone.stem.conv", "yolov5n-rgb.pt")
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        for a, b in zip(again(x), model(x)):
            assert torch.equal(a, b)
    with caplog.at_level(logging.INFO, logger="yololab"):
        four = load_model(path, in_channels=4, num_classes=3)
    assert four.spec.in_channels == 4 and four.spec.num_classes == 3
    assert any(f"adapted the stem of {path}" in r.message and "from 1 to 4" in r.message for r in caplog.records)


def test_checkpoint_from_before_in_channels_loads_as_rgb(tmp_path) -> None:
    model = build_model("yolov5n", num_classes=2)
    ckpt = model_checkpoint(model)
    for key in ("in_channels", "stem_adaptation"):
        del ckpt["spec"][key]
    atomic_save(ckpt, tmp_path / "old.pt")
    old = load_model(tmp_path / "old.pt")
    assert old.spec.in_channels == 3 and old.spec.stem_adaptation is None


def test_summary_says_how_the_stem_was_adapted() -> None:
    from yololab.models.channels import adapt_input_channels
    from yololab.models.summary import format_summary, summarize

    model = adapt_input_channels(build_model("yolov5n", num_classes=2), 1, "yolov5n.pt")
    summary = summarize(model, 64)
    assert summary["in_channels"] == 1 and summary["stem_adaptation"]["to_channels"] == 1
    assert ("input: 1 channels; stem of yolov5n.pt (backbone.stem.conv) adapted from 3 to 1 channels by timm "
            "adapt_input_conv: sum of the 3 input filters") in format_summary(model, summary)
    assert "no adaptation" in format_summary(model, summarize(build_model("yolov5n", num_classes=2), 64))


def test_protocol_card_names_the_adapted_stems() -> None:
    from types import SimpleNamespace

    from yololab.experiments.plan.protocol_card import stem_protocol
    from yololab.experiments.report.html import protocol_html

    spec = SimpleNamespace(backbones=[SimpleNamespace(name="resnet50", label=None, pretrained=True),
                                      SimpleNamespace(name="native", label="v5", pretrained=False)])
    card = stem_protocol(spec, 1)
    assert card["in_channels"] == 1 and card["adapted"]["v5"] is None
    assert card["adapted"]["resnet50"] == ("resnet50 pretrained stem 3 -> 1 channels (timm adapt_input_conv: "
                                           "sum of the 3 input filters)")
    assert stem_protocol(spec, 3)["adapted"] == {"resnet50": None, "v5": None}
    assert "resnet50 pretrained stem 3 -&gt; 1 channels" in protocol_html({"stems": card})
