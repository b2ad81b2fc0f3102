"""Freeze the first N backbone stages: no gradients and BatchNorm statistics kept fixed."""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from yololab.train.ema import unwrap


def _keep_eval(module: nn.Module, args: Any) -> None:
    """Forward pre-hook: a frozen norm layer stays in eval mode even after ``model.train()``."""
    module.training = False


def _has_keep_eval(module: nn.Module) -> bool:
    return any(hook is _keep_eval for hook in module._forward_pre_hooks.values())


def freeze_backbone_stages(model: nn.Module, n: int) -> int:
    """Freeze the first ``n`` of ``model.backbone.stages()``; returns the parameters frozen.

    Parameters get ``requires_grad=False``; BatchNorm layers are put in eval mode and kept
    there through later ``model.train()`` calls (by a forward pre-hook).
    """
    stages = unwrap(model).backbone.stages()
    if not 0 <= n <= len(stages):
        raise ValueError(f"can freeze 0..{len(stages)} backbone stages, got {n}")
    frozen = 0
    for stage in stages[:n]:
        for param in stage.parameters():
            if param.requires_grad:
                param.requires_grad_(False)
                frozen += param.numel()
        for module in stage.modules():
            if isinstance(module, _BatchNorm):
                module.eval()
                if not _has_keep_eval(module):
                    module.register_forward_pre_hook(_keep_eval)
    return frozen


def unfreeze_backbone(model: nn.Module) -> None:
    """Undo :func:`freeze_backbone_stages` for the whole backbone (BN follows model.train())."""
    backbone = unwrap(model).backbone
    for param in backbone.parameters():
        param.requires_grad_(True)
    for module in backbone.modules():
        for key, hook in list(module._forward_pre_hooks.items()):
            if hook is _keep_eval:
                del module._forward_pre_hooks[key]
        module.training = backbone.training
