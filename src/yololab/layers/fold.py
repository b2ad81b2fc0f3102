"""Fold BatchNorm into the preceding convolution inside third-party backbones (timm, torchvision).

yololab's own layers fuse themselves (``Conv.fuse``, ``RepConv.fuse``). In timm and torchvision
blocks a BatchNorm follows its convolution in registration order (``conv1, bn1``;
``conv_pw, bn1``; ``Sequential(conv, bn)``); such neighbours are folded. Because registration
order is a convention and not a guarantee, the fold is checked on a probe input and undone if the
outputs change. timm's BatchNormAct2d keeps its activation (and dropout) after folding.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from yololab.layers.conv import fuse_conv_bn

LOG = logging.getLogger("yololab")


def _after_fold(bn: nn.BatchNorm2d) -> nn.Module:
    """What replaces a folded BN: its activation for timm's BatchNormAct2d, else Identity."""
    tail = [m for m in (getattr(bn, "drop", None), getattr(bn, "act", None))
            if isinstance(m, nn.Module) and not isinstance(m, nn.Identity)]
    return nn.Sequential(*tail) if tail else nn.Identity()


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and isinstance(bn, nn.BatchNorm2d)
            and bn.track_running_stats and conv.out_channels == bn.num_features)


@torch.no_grad()
def _fold_neighbours(module: nn.Module) -> int:
    folded = 0
    for parent in list(module.modules()):
        children = list(parent.named_children())
        for (a, conv), (b, bn) in zip(children, children[1:]):
            if _foldable(conv, bn):
                setattr(parent, a, fuse_conv_bn(conv, bn))
                setattr(parent, b, _after_fold(bn))
                folded += 1
    return folded


@torch.no_grad()
def fold_batchnorms(module: nn.Module, probe_size: int = 64, rtol: float = 1e-4) -> int:
    """Fold conv+BN neighbours below ``module`` in place, verified on a probe; returns how many."""
    was_training = module.training
    module.eval()
    backup = copy.deepcopy(module)
    device = next(module.parameters()).device
    channels = int(getattr(module, "in_channels", 3))  # a Backbone says how many image channels it reads
    probe = torch.rand(1, channels, probe_size, probe_size, device=device)
    before = module(probe)
    folded = _fold_neighbours(module)
    after = module(probe)
    for x, y in zip(before, after):
        if not torch.allclose(x, y, rtol=rtol, atol=rtol * float(x.abs().max()) + 1e-6):
            LOG.warning("BatchNorm folding changed the outputs of %s; left unfolded", type(module).__name__)
            for name, child in backup.named_children():
                setattr(module, name, child)
            folded = 0
            break
    module.train(was_training)
    return folded
