"""SGD with upstream's three parameter groups, plus optional backbone lr multiplier groups.

Scheduling, warm-up and freezing live in :mod:`yololab.train.schedule` and
:mod:`yololab.train.freeze` and are re-exported here.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from yololab.layers.implicit import ImplicitA, ImplicitM
from yololab.train.ema import unwrap
from yololab.train.freeze import freeze_backbone_stages, unfreeze_backbone
from yololab.train.schedule import (LRLambda, accumulate_steps, build_scheduler, lr_lambda,
                                    scaled_weight_decay, warmup_iterations, warmup_step)

LOG = logging.getLogger("yololab")

GROUP_KINDS = ("bias", "decay", "no_decay")   # upstream order: biases, decayed weights, BN weights
NORM_TYPES = tuple(v for k, v in vars(nn).items() if "Norm" in k and isinstance(v, type))
NO_DECAY_MODULES = (ImplicitA, ImplicitM)      # YOLOv7 keeps implicit knowledge undecayed


def _kind(module: nn.Module, param_name: str) -> str:
    if param_name == "bias":
        return "bias"
    if isinstance(module, NO_DECAY_MODULES) or (param_name == "weight" and isinstance(module, NORM_TYPES)):
        return "no_decay"
    return "decay"


def parameter_groups(model: nn.Module, backbone_lr_mult: float = 1.0) -> dict[str, list[nn.Parameter]]:
    """Parameters by group name: 'bias', 'decay', 'no_decay', and 'backbone.<kind>' when the
    backbone gets its own learning rate (``backbone_lr_mult != 1``). Frozen parameters are
    included (they get no gradient, so SGD skips them; unfreezing needs no new optimizer)."""
    model = unwrap(model)
    backbone = getattr(model, "backbone", None) if backbone_lr_mult != 1.0 else None
    in_backbone = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    groups: dict[str, list[nn.Parameter]] = {k: [] for k in GROUP_KINDS}
    groups.update({f"backbone.{k}": [] for k in GROUP_KINDS} if backbone is not None else {})
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            kind = _kind(module, name)
            groups[f"backbone.{kind}" if id(param) in in_backbone else kind].append(param)
    return groups


def build_optimizer(model: nn.Module, lr0: float = 0.01, momentum: float = 0.937,
                    weight_decay: float = 5e-4, backbone_lr_mult: float = 1.0) -> torch.optim.SGD:
    """Nesterov SGD; groups (in order) 'bias' (no decay), 'decay', 'no_decay' (norm weights),
    then, if ``backbone_lr_mult != 1``, the same three for ``model.backbone`` at ``lr0 * mult``.

    Each group records 'name', 'lr_mult' and 'initial_lr' (= lr0 * lr_mult); empty
    backbone groups are left out.
    """
    groups = []
    for name, params in parameter_groups(model, backbone_lr_mult).items():
        if not params and name.startswith("backbone."):
            continue
        mult = backbone_lr_mult if name.startswith("backbone.") else 1.0
        groups.append({"params": params, "name": name, "lr_mult": mult, "lr": lr0 * mult,
                       "initial_lr": lr0 * mult,
                       "weight_decay": weight_decay if name.endswith(".decay") or name == "decay" else 0.0})
    optimizer = torch.optim.SGD(groups, lr=lr0, momentum=momentum, nesterov=True)
    LOG.info("optimizer: SGD(lr=%g, nesterov) groups %s", lr0,
             ", ".join(f"{g['name']}={len(g['params'])}" for g in optimizer.param_groups))
    return optimizer


__all__ = ["build_optimizer", "parameter_groups", "build_scheduler", "lr_lambda", "LRLambda", "warmup_step",
           "warmup_iterations", "accumulate_steps", "scaled_weight_decay", "freeze_backbone_stages",
           "unfreeze_backbone"]
