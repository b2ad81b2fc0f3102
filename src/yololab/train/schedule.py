"""Learning-rate schedule (upstream linear / one-cycle cosine LambdaLR) and iteration warm-up."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("linear", "cosine")


@dataclass
class LRLambda:
    """lr factor per epoch: 1 at epoch 0, ``lrf`` at ``epochs`` (a picklable object, so
    LambdaLR's state_dict keeps it)."""

    epochs: int
    lrf: float
    kind: str = "linear"

    def __call__(self, epoch: float) -> float:
        if self.kind == "cosine":   # upstream one_cycle(1, lrf, epochs)
            return ((1 - math.cos(epoch * math.pi / self.epochs)) / 2) * (self.lrf - 1) + 1
        return (1 - epoch / self.epochs) * (1.0 - self.lrf) + self.lrf


def lr_lambda(epochs: int, lrf: float, kind: str = "linear") -> LRLambda:
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return LRLambda(epochs, lrf, kind)


def build_scheduler(optimizer: torch.optim.Optimizer, epochs: int, lrf: float, kind: str = "linear") -> LambdaLR:
    """LambdaLR with upstream's linear or cosine (one_cycle) factor; ``scheduler.lr_lambdas[0]``
    is the factor function that :func:`warmup_step` needs. Groups' lr_mult is respected
    because LambdaLR scales each group's own ``initial_lr``."""
    return LambdaLR(optimizer, lr_lambda=lr_lambda(epochs, lrf, kind))


def _interp(x: float, x1: float, y0: float, y1: float) -> float:
    """Linear interpolation from (0, y0) to (x1, y1), clamped outside [0, x1] like np.interp."""
    if x1 <= 0:
        return y1
    w = min(max(x / x1, 0.0), 1.0)
    return y0 + (y1 - y0) * w


def _hyp(hyp: Any, key: str) -> float:
    return float(hyp[key] if isinstance(hyp, Mapping) else getattr(hyp, key))


def warmup_step(optimizer: torch.optim.Optimizer, iteration: int, warmup_iters: int, epoch: int,
                lf: Callable[[float], float], hyp: Any) -> None:
    """Upstream warm-up for iteration ``iteration`` (call while ``iteration <= warmup_iters``).

    Bias groups go from ``warmup_bias_lr`` down to ``initial_lr * lf(epoch)``, the other groups
    from 0 up to it; momentum goes from ``warmup_momentum`` to ``momentum``. Start values are
    scaled by the group's 'lr_mult' (its ``initial_lr`` already includes it).
    """
    for group in optimizer.param_groups:
        mult = float(group.get("lr_mult", 1.0))
        initial = group.setdefault("initial_lr", group["lr"])
        is_bias = str(group.get("name", "")).split(".")[-1] == "bias"
        start = _hyp(hyp, "warmup_bias_lr") * mult if is_bias else 0.0
        group["lr"] = _interp(iteration, warmup_iters, start, initial * lf(epoch))
        if "momentum" in group:
            group["momentum"] = _interp(iteration, warmup_iters, _hyp(hyp, "warmup_momentum"),
                                        _hyp(hyp, "momentum"))


def warmup_iterations(warmup_epochs: float, batches_per_epoch: int, minimum: int = 100) -> int:
    """Upstream: max(round(warmup_epochs * batches per epoch), 100)."""
    return max(round(warmup_epochs * batches_per_epoch), minimum)


def accumulate_steps(iteration: int, warmup_iters: int, batch_size: int, nominal_batch_size: int = 64) -> int:
    """Batches to accumulate before a step: ramps from 1 to nbs/bs during warm-up (upstream)."""
    target = max(round(nominal_batch_size / batch_size), 1)
    if iteration > warmup_iters:
        return target
    return max(1, round(_interp(iteration, warmup_iters, 1.0, nominal_batch_size / batch_size)))


def scaled_weight_decay(weight_decay: float, batch_size: int, nominal_batch_size: int = 64) -> float:
    """Upstream scales weight decay by batch_size * accumulate / nbs."""
    accumulate = max(round(nominal_batch_size / batch_size), 1)
    return weight_decay * batch_size * accumulate / nominal_batch_size
