"""Input channels other than RGB: adapting a pretrained stem convolution by timm's rule.

``timm.models.adapt_input_conv`` does the arithmetic (one channel: the sum of the RGB filters;
N channels: the RGB filters repeated and rescaled by 3/N); this module finds the stem, swaps its
convolution for one with the new channel count and keeps a :class:`StemAdaptation` record of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from yololab.errors import ConfigError

RULE = "timm adapt_input_conv"


def rule_text(from_channels: int, to_channels: int) -> str:
    """What the rule does for this pair of channel counts, in words."""
    if to_channels == 1:
        return f"{RULE}: sum of the {from_channels} input filters"
    return f"{RULE}: filters repeated and rescaled by {from_channels}/{to_channels}"


@dataclass(frozen=True)
class StemAdaptation:
    """How a pretrained stem was changed from ``from_channels`` to ``to_channels`` inputs."""

    from_channels: int
    to_channels: int
    rule: str            # e.g. "timm adapt_input_conv: sum of the 3 input filters"
    layer: str           # the adapted convolution, e.g. "backbone.stem.conv"
    source: str = ""     # the weights adapted: a file, or "ImageNet (timm hub)"

    def describe(self) -> str:
        where = f" of {self.source}" if self.source else ""
        return (f"adapted the stem{where} ({self.layer}) from {self.from_channels} to {self.to_channels} "
                f"input channels ({self.rule})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> StemAdaptation | None:
        return None if data is None else cls(**data)


def check_channels(in_channels: Any) -> int:
    """``in_channels`` as a positive int, else a ConfigError naming it."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ConfigError(f"in_channels must be a positive integer (1 for grayscale, 3 for RGB, N for N "
                          f"bands), got {in_channels!r}")
    return in_channels


def adapt_weight(weight: torch.Tensor, to_channels: int) -> torch.Tensor:
    """A stem weight (out, in, kh, kw) for ``to_channels`` inputs, by timm's rule."""
    from timm.models import adapt_input_conv

    check_channels(to_channels)
    return adapt_input_conv(to_channels, weight.detach(), base_chans=int(weight.shape[1]))


def stem_conv(module: nn.Module, in_channels: int) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` (registration order) that reads ``in_channels`` inputs: the stem."""
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d) and child.in_channels == in_channels and child.groups == 1:
            return name, child
    raise ConfigError(f"{type(module).__name__} has no convolution with {in_channels} input channels to adapt")


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, new)


@torch.no_grad()
def adapt_stem(module: nn.Module, from_channels: int, to_channels: int, prefix: str = "",
               source: str = "") -> StemAdaptation:
    """Swap ``module``'s stem convolution for one taking ``to_channels`` inputs, its weight adapted
    by timm's rule (bias, stride, padding and dtype kept); returns the record."""
    check_channels(to_channels)
    name, conv = stem_conv(module, from_channels)
    new = nn.Conv2d(to_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, 1, conv.bias is not None, conv.padding_mode,
                    device=conv.weight.device, dtype=conv.weight.dtype)
    new.weight.copy_(adapt_weight(conv.weight, to_channels))
    if conv.bias is not None:
        new.bias.copy_(conv.bias)
    _replace(module, name, new)
    layer = f"{prefix}.{name}" if prefix else name
    return StemAdaptation(from_channels, to_channels, rule_text(from_channels, to_channels), layer, source)


def new_stem(module: nn.Module, to_channels: int) -> None:
    """Swap the 3-input stem of a freshly built (not pretrained) network for a ``to_channels`` one,
    freshly initialised (nothing to adapt)."""
    name, conv = stem_conv(module, 3)
    new = nn.Conv2d(to_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, 1, conv.bias is not None, conv.padding_mode)
    _replace(module, name, new)


def planned_adaptation(pretrained: bool | str, in_channels: int, backbone: str = "") -> str | None:
    """What a comparison entry's stem will undergo, for the protocol card: None when nothing is adapted."""
    if in_channels == 3 or not pretrained:
        return None
    return f"{backbone} pretrained stem 3 -> {in_channels} channels ({rule_text(3, in_channels)})"
