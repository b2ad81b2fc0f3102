"""Exponential moving average of a model's weights (upstream YOLOv5 ``ModelEMA``)."""

from __future__ import annotations

import math
from copy import deepcopy
from typing import Any

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DataParallel / DistributedDataParallel (or the model itself)."""
    return model.module if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else model


class ModelEMA:
    """Keeps ``ema`` (an eval-mode FP32 copy) as ema = d * ema + (1 - d) * model after each step.

    d = decay * (1 - exp(-updates / tau)) ramps from 0 so early EMA weights follow the model.
    Every floating-point entry of the state dict (parameters and buffers, e.g. BN statistics)
    is averaged; integer buffers are copied.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0) -> None:
        self.ema = deepcopy(unwrap(model)).eval()
        self.decay = decay
        self.tau = tau
        self.updates = updates
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def decay_at(self, updates: int) -> float:
        """The decay used for the ``updates``-th update."""
        return self.decay * (1.0 - math.exp(-updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the model's current weights into the EMA."""
        self.updates += 1
        d = self.decay_at(self.updates)
        current = unwrap(model).state_dict()
        ema_floats, model_floats = [], []
        for name, value in self.ema.state_dict().items():
            source = current[name].detach()
            if value.dtype.is_floating_point:
                ema_floats.append(value)
                model_floats.append(source.to(value.dtype))
            else:
                value.copy_(source)
        if ema_floats:  # ema = d * ema + (1 - d) * model, one fused multi-tensor op (as timm's EMA)
            torch._foreach_lerp_(ema_floats, model_floats, 1.0 - d)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: EMA weights, update count and the ramp settings."""
        return {"ema": self.ema.state_dict(), "updates": self.updates, "decay": self.decay, "tau": self.tau}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema.load_state_dict(state["ema"])
        self.updates = int(state["updates"])
        self.decay = float(state.get("decay", self.decay))
        self.tau = float(state.get("tau", self.tau))
