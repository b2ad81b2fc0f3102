"""torchvision ResNets with torchvision's own modules and weight format.

Other channel counts than RGB replace ``conv1``; pretrained weights are adapted by timm's rule
(:func:`yololab.backbones.stem.adapt_stem`)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from yololab.backbones.base import Backbone, BackboneRequest
from yololab.backbones.pretrained import (
    PretrainedWeightsError, host_reachable, read_state_dict, report_keys,
)
from yololab.backbones.registry import register_prefix
from yololab.backbones.stem import adapt_stem, new_stem

RESNET_LIKE = ("resnet", "resnext", "wide_resnet")


class TorchvisionResNet(Backbone):
    """layer2/layer3/layer4 of a torchvision ResNet (strides 8/16/32); ``fc`` is dropped."""

    def __init__(self, name: str, pretrained: bool | str = False, in_channels: int = 3) -> None:
        super().__init__()
        import torchvision

        if not name.startswith(RESNET_LIKE) or name not in torchvision.models.list_models():
            valid = [m for m in torchvision.models.list_models() if m.startswith(RESNET_LIKE)]
            raise KeyError(f"unknown torchvision backbone {name!r}; valid: {', '.join(valid)}")
        self.load_report = None
        if pretrained is True:
            model = self._download(name)
        else:
            model = torchvision.models.get_model(name, weights=None)
            if isinstance(pretrained, (str, Path)):
                result = model.load_state_dict(read_state_dict(pretrained), strict=False)
                self.load_report = report_keys(pretrained, list(result.missing_keys),
                                               list(result.unexpected_keys))
        if in_channels != 3 and pretrained:
            source = str(pretrained) if isinstance(pretrained, (str, Path)) else "ImageNet (torchvision)"
            self.stem_adaptation = adapt_stem(model, 3, in_channels, "backbone", source)
        elif in_channels != 3:
            new_stem(model, in_channels)
        self.in_channels = in_channels
        self.conv1, self.bn1, self.relu, self.maxpool = model.conv1, model.bn1, model.relu, model.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = model.layer1, model.layer2, model.layer3, model.layer4
        self.channels = tuple(self._last_channels(layer) for layer in (self.layer2, self.layer3, self.layer4))
        self.name = name

    @staticmethod
    def _last_channels(layer: nn.Sequential) -> int:
        convs = [m for m in layer[-1].modules() if isinstance(m, nn.Conv2d)]
        return convs[-1].out_channels

    @staticmethod
    def _download(name: str) -> nn.Module:
        import torchvision

        weights = torchvision.models.get_model_weights(name).DEFAULT
        target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not target.is_file() and not host_reachable("download.pytorch.org"):
            raise PretrainedWeightsError(
                f"cannot fetch ImageNet weights for torchvision {name!r}: download.pytorch.org is not "
                f"reachable. Download {weights.url} and put it at {target}, or pass "
                f"pretrained_backbone='/path/to/{Path(weights.url).name}'")
        try:
            return torchvision.models.get_model(name, weights=weights)
        except Exception as err:
            raise PretrainedWeightsError(
                f"could not fetch ImageNet weights for torchvision {name!r} ({type(err).__name__}). "
                f"Offline? download {weights.url} and put it at {target}, or pass "
                f"pretrained_backbone='/path/to/{Path(weights.url).name}'") from err

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        p3 = self.layer2(self.layer1(x))
        p4 = self.layer3(p3)
        return [p3, p4, self.layer4(p4)]

    def stages(self) -> list[nn.Module]:
        return [nn.ModuleList([self.conv1, self.bn1]), self.layer1, self.layer2, self.layer3, self.layer4]


@register_prefix("torchvision", "torchvision ResNet/ResNeXt/Wide-ResNet (torchvision weight format)")
def torchvision_resnet(name: str, request: BackboneRequest) -> Backbone:
    return TorchvisionResNet(name, request.pretrained, request.in_channels)
