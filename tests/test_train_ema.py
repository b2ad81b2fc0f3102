"""ModelEMA maths, ramp and resume."""

from __future__ import annotations

import math

import torch
from torch import nn

from yololab.train import ModelEMA


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))


def test_ema_update_math() -> None:
    model = tiny()
    ema = ModelEMA(model, decay=0.9, tau=10)
    start = ema.ema[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(2.0)
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1 / 10))
    assert ema.updates == 1 and math.isclose(ema.decay_at(1), d)
    assert torch.allclose(ema.ema[0].weight, d * start + (1 - d) * model[0].weight)
    assert torch.allclose(ema.ema[1].running_mean, torch.full((4,), (1 - d) * 2.0))
    assert ema.ema[1].num_batches_tracked == model[1].num_batches_tracked
    # the EMA copy is separate, frozen and in eval mode
    assert not ema.ema.training and not any(p.requires_grad for p in ema.ema.parameters())
    assert ema.ema[0].weight.data_ptr() != model[0].weight.data_ptr()


def test_ema_decay_ramp_defaults() -> None:
    ema = ModelEMA(tiny())
    assert ema.decay == 0.9999 and ema.tau == 2000
    assert ema.decay_at(0) == 0.0
    assert math.isclose(ema.decay_at(2000), 0.9999 * (1 - math.exp(-1)))
    assert abs(ema.decay_at(100000) - 0.9999) < 1e-9


def test_ema_follows_model_after_many_updates_and_resumes() -> None:
    model = tiny()
    ema = ModelEMA(model, decay=0.5, tau=1)
    with torch.no_grad():
        model[0].weight.fill_(3.0)
    for _ in range(40):
        ema.update(model)
    assert torch.allclose(ema.ema[0].weight, model[0].weight, atol=1e-6)
    state = ema.state_dict()
    other = ModelEMA(tiny())
    other.load_state_dict(state)
    assert other.updates == 40 and other.decay == 0.5 and other.tau == 1
    assert torch.equal(other.ema[0].weight, ema.ema[0].weight)
