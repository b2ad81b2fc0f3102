"""Any timm model with stride-8/16/32 features, through ``features_only``.

Outputs are chosen by ``feature_info`` reduction, since indices differ between families
(resnet: 2,3,4; darknet53/cspdarknet53: 3,4,5; hgnetv2: 1,2,3). Other channel counts than RGB
go to timm as ``in_chans``: timm adapts the pretrained stem itself (``adapt_input_conv``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from yololab.backbones.base import FEATURE_STRIDES, Backbone, BackboneRequest
from yololab.backbones.pretrained import (
    PretrainedWeightsError, host_reachable, read_state_dict, report_keys,
)
from yololab.backbones.registry import register_backbone, register_prefix
from yololab.backbones.stem import StemAdaptation, rule_text, stem_conv


def _feature_indices(name: str) -> list[int]:
    """Indices of the last feature at each of the strides 8, 16, 32."""
    import timm

    try:
        with torch.device("meta"):
            probe = timm.create_model(name, features_only=True, pretrained=False)
    except RuntimeError as err:
        if "features_only" in str(err) or "feature" in str(err).lower():
            raise ValueError(f"timm model {name!r} does not support features_only: {err}") from err
        probe = timm.create_model(name, features_only=True, pretrained=False)
    reductions = [info["reduction"] for info in probe.feature_info.info]
    indices = []
    for stride in FEATURE_STRIDES:
        matches = [i for i, r in enumerate(reductions) if r == stride]
        if not matches:
            raise ValueError(f"timm model {name!r} has no stride-{stride} features "
                             f"(its feature reductions are {reductions}); a YOLO neck needs 8, 16 and 32")
        indices.append(matches[-1])
    return indices


def _hub_hint(name: str) -> str:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if hub_id:
        url = f"https://huggingface.co/{hub_id}/resolve/main/model.safetensors"
        return f"download {url} and pass pretrained_backbone='/path/to/model.safetensors'"
    return "pass pretrained_backbone='/path/to/weights' with a file in timm's key format"


def _in_hub_cache(name: str) -> bool:
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not hub_id:
        return False
    return any(isinstance(try_to_load_from_cache(hub_id, f), str)
               for f in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"))


class TimmBackbone(Backbone):
    def __init__(self, name: str, pretrained: bool | str = False, in_channels: int = 3) -> None:
        super().__init__()
        import timm

        if name not in timm.list_models():
            raise KeyError(f"unknown timm model {name!r} (see timm.list_models())")
        indices = _feature_indices(name)
        kwargs: dict = {"features_only": True, "out_indices": indices, "in_chans": in_channels}
        self.load_report: dict[str, list[str]] | None = None
        if isinstance(pretrained, (str, Path)):
            state = read_state_dict(pretrained)
            self.load_report = self._compare_keys(name, state, pretrained)
            kwargs.update(pretrained=True, pretrained_strict=False,
                          pretrained_cfg_overlay={"file": str(pretrained)})
        elif pretrained:
            if not _in_hub_cache(name) and not host_reachable("huggingface.co"):
                raise PretrainedWeightsError(
                    f"cannot fetch ImageNet weights for timm model {name!r}: huggingface.co is not "
                    f"reachable and the weights are not in the local cache. {_hub_hint(name)}")
            kwargs["pretrained"] = True
        try:
            self.body = timm.create_model(name, **kwargs)
        except PretrainedWeightsError:
            raise
        except Exception as err:
            if pretrained is True:
                raise PretrainedWeightsError(
                    f"could not fetch ImageNet weights for timm model {name!r} ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}). Offline? {_hub_hint(name)}") from err
            raise
        self.name = name
        self.channels = tuple(self.body.feature_info.channels())
        self.in_channels = in_channels
        if pretrained and in_channels != 3:
            layer = stem_conv(self.body, in_channels)[0]
            source = str(pretrained) if isinstance(pretrained, (str, Path)) else "ImageNet (timm hub)"
            self.stem_adaptation = StemAdaptation(3, in_channels, rule_text(3, in_channels),
                                                  f"backbone.body.{layer}", source)

    @staticmethod
    def _compare_keys(name: str, state: dict, path: str | Path) -> dict[str, list[str]]:
        import timm

        with torch.device("meta"):
            full = timm.create_model(name, pretrained=False)
        expected = set(full.state_dict())
        classifier = full.default_cfg.get("classifier", "fc")
        prefixes = tuple(classifier) if isinstance(classifier, (list, tuple)) else (classifier,)
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        missing = [k for k in missing if not k.startswith(prefixes)]
        return report_keys(path, missing, unexpected)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))

    def stages(self) -> list[torch.nn.Module]:
        return list(self.body.children())


@register_prefix("timm", "any timm model with stride-8/16/32 features (features_only)")
def timm_any(name: str, request: BackboneRequest) -> Backbone:
    return TimmBackbone(name, request.pretrained, request.in_channels)


def _register(name: str, description: str) -> None:
    register_backbone(name, description)(
        lambda request: TimmBackbone(name, request.pretrained, request.in_channels))


_register("resnet50", "ResNet-50 (timm)")
_register("resnet101", "ResNet-101 (timm)")
_register("darknet53", "Darknet-53, YOLOv3's backbone (timm)")
_register("cspdarknet53", "CSPDarknet-53, YOLOv4's backbone (timm)")
for _size in range(7):
    _register(f"hgnetv2_b{_size}", f"PP-HGNetV2-B{_size}, RT-DETR's backbone (timm)")
