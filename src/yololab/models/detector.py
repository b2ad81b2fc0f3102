"""Detector = backbone -> adapters -> neck -> head, composed from injected parts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from yololab.backbones.base import Backbone
from yololab.backbones.stem import StemAdaptation
from yololab.heads import DetectHead, decode_predictions
from yololab.layers import Conv
from yololab.layers.fold import fold_batchnorms


@dataclass
class ModelSpec:
    """Everything needed to rebuild a detector (saved in every yololab checkpoint)."""

    model: str
    backbone: str
    num_classes: int = 80
    names: list[str] = field(default_factory=list)
    anchors: list[list[float]] | None = None   # pixels; None means the family's default
    in_channels: int = 3                       # image channels (checkpoints from before it: 3)
    stem_adaptation: StemAdaptation | None = None  # how pretrained RGB stem weights were adapted

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        """The spec saved in a checkpoint (``to_dict``), older ones (no ``in_channels``) included."""
        data = dict(data)
        stem = data.pop("stem_adaptation", None)
        return cls(**data, stem_adaptation=StemAdaptation.from_dict(stem))


class ChannelAdapters(nn.Module):
    """1x1 Conv-BN-act per level from the backbone's channels to the neck's; Identity where equal."""

    def __init__(self, in_channels: tuple[int, ...], out_channels: tuple[int, ...], act: str) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            nn.Identity() if c_in == c_out else Conv(c_in, c_out, 1, 1, act=act)
            for c_in, c_out in zip(in_channels, out_channels)
        )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [adapter(x) for adapter, x in zip(self.levels, features)]


class Detector(nn.Module):
    """``forward`` returns raw head maps (for the loss); ``decode`` and ``predict`` sit outside it."""

    def __init__(self, backbone: Backbone, adapters: ChannelAdapters, neck: nn.Module,
                 head: DetectHead, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = backbone
        self.adapters = adapters
        self.neck = neck
        self.head = head
        self.spec = spec

    @property
    def stride(self) -> int:
        return int(self.head.strides.max())

    @property
    def num_classes(self) -> int:
        return int(self.head.num_classes)

    @property
    def names(self) -> list[str]:
        return self.spec.names

    @property
    def in_channels(self) -> int:
        return self.spec.in_channels

    def check_input(self, images: torch.Tensor) -> None:
        c = self.spec.in_channels
        if images.ndim != 4 or images.shape[1] != c:
            raise ValueError(f"expected images shaped (batch, {c}, height, width), got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"image size {h}x{w} is not divisible by the model stride {self.stride}; "
                             f"letterbox to a multiple of {self.stride} (e.g. 320, 640)")

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        self.check_input(images)
        return self.head(self.neck(self.adapters(self.backbone(images))))

    def decode(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """(batch, boxes, 5 + classes): cx, cy, w, h (pixels), objectness, class probabilities."""
        return decode_predictions(raw, self.head.anchors, self.head.strides)

    @torch.no_grad()
    def fuse(self) -> "Detector":
        """Deploy form: fold BN into convs (third-party backbones too), re-parameterise RepConv,
        fold implicit layers.

        An explicit, in-place, one-way step; outputs stay equal within float tolerance.
        """
        for module in list(self.modules()):
            if module is not self and hasattr(module, "fuse"):
                module.fuse()
        if any(isinstance(m, nn.BatchNorm2d) for m in self.backbone.modules()):
            fold_batchnorms(self.backbone)  # timm / torchvision backbones
        return self

    def channels_last(self) -> "Detector":
        """Store 4-D weights NHWC, so convolutions run channels-last (oneDNN on CPU, cuDNN on GPU).

        Faster than NCHW on CPU for training and inference (the README has the figures). Inputs need
        no conversion: a channels-last weight makes the first convolution's output channels-last.
        Checkpoints are saved contiguous.
        """
        return self.to(memory_format=torch.channels_last)

    def parameter_counts(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"params": count(self), "backbone_params": count(self.backbone),
                "adapter_params": count(self.adapters), "neck_params": count(self.neck),
                "head_params": count(self.head)}
