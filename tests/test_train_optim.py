"""Optimizer groups, LR schedule, warm-up and backbone freezing."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import yololab
from yololab.train import (Hyperparameters, accumulate_steps, build_optimizer, build_scheduler,
                           freeze_backbone_stages, lr_lambda, scaled_weight_decay, unfreeze_backbone,
                           warmup_iterations, warmup_step)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture()
def model() -> yololab.Detector:
    torch.manual_seed(0)
    return yololab.build_model("yolov5n", num_classes=2)


def counts(model: nn.Module) -> dict[str, int]:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    biases = sum(m.bias is not None for m in convs) + len(norms)
    return {"bias": biases, "decay": len(convs), "no_decay": len(norms)}


def test_three_upstream_groups(model: yololab.Detector) -> None:
    opt = build_optimizer(model, lr0=0.01, momentum=0.937, weight_decay=5e-4)
    assert isinstance(opt, torch.optim.SGD)
    names = [g["name"] for g in opt.param_groups]
    assert names == ["bias", "decay", "no_decay"]
    expected = counts(model)
    for g in opt.param_groups:
        assert len(g["params"]) == expected[g["name"]]
        assert g["nesterov"] and g["momentum"] == 0.937 and g["lr"] == 0.01 and g["lr_mult"] == 1.0
    decay = {g["name"]: g["weight_decay"] for g in opt.param_groups}
    assert decay == {"bias": 0.0, "decay": 5e-4, "no_decay": 0.0}
    every = [p for g in opt.param_groups for p in g["params"]]
    assert len(every) == len({id(p) for p in every}) == len(list(model.parameters()))
    # decayed group holds exactly the conv weights, the no-decay group the BN weights
    bn_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert {id(p) for p in opt.param_groups[2]["params"]} == bn_weights
    assert all(p.ndim == 4 for p in opt.param_groups[1]["params"])


def test_yolov7_implicit_parameters_are_not_decayed() -> None:
    model = yololab.build_model("yolov7-tiny", num_classes=2)
    opt = build_optimizer(model)
    no_decay = {id(p) for p in opt.param_groups[2]["params"]}
    implicit = [m.implicit for m in model.head.modules() if isinstance(getattr(m, "implicit", None), nn.Parameter)]
    assert implicit and all(id(p) in no_decay for p in implicit)


def test_backbone_lr_multiplier_groups(model: yololab.Detector) -> None:
    opt = build_optimizer(model, lr0=0.02, momentum=0.9, weight_decay=1e-4, backbone_lr_mult=0.1)
    by_name = {g["name"]: g for g in opt.param_groups}
    assert set(by_name) == {"bias", "decay", "no_decay", "backbone.bias", "backbone.decay", "backbone.no_decay"}
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    for name, g in by_name.items():
        in_backbone = {id(p) in backbone_ids for p in g["params"]}
        assert in_backbone == {name.startswith("backbone.")}
        mult = 0.1 if name.startswith("backbone.") else 1.0
        assert g["lr_mult"] == mult and math.isclose(g["lr"], 0.02 * mult)
        assert g["weight_decay"] == (1e-4 if name.endswith("decay") and not name.endswith("no_decay") else 0.0)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    # the scheduler keeps the multiplier
    sched = build_scheduler(opt, epochs=10, lrf=0.01)
    for _ in range(5):
        opt.step()
        sched.step()
    f = lr_lambda(10, 0.01)(5)
    assert math.isclose(by_name["backbone.decay"]["lr"], 0.002 * f) and math.isclose(by_name["decay"]["lr"], 0.02 * f)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_endpoints(kind: str) -> None:
    lf = lr_lambda(epochs=100, lrf=0.01, kind=kind)
    assert math.isclose(lf(0), 1.0) and math.isclose(lf(100), 0.01)
    assert math.isclose(lf(50), 0.505)            # both pass through the midpoint
    values = [lf(e) for e in range(101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    if kind == "cosine":
        assert lf(10) > lr_lambda(100, 0.01, "linear")(10)   # cosine stays high early


def test_scheduler_lr_values_and_state_dict() -> None:
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.01)
    sched = build_scheduler(opt, epochs=4, lrf=0.1)
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.01 * ((1 - e / 4) * 0.9 + 0.1) for e in range(4)])
    assert math.isclose(opt.param_groups[0]["lr"], 0.001)
    state = sched.state_dict()
    assert state["lr_lambdas"][0] == {"epochs": 4, "lrf": 0.1, "kind": "linear"}
    with pytest.raises(ValueError):
        lr_lambda(10, 0.01, "step")


def test_warmup_start_and_end(model: yololab.Detector) -> None:
    hyp = Hyperparameters()
    opt = build_optimizer(model, hyp.lr0, hyp.momentum, hyp.weight_decay, backbone_lr_mult=0.5)
    sched = build_scheduler(opt, epochs=10, lrf=hyp.lrf)
    lf = sched.lr_lambdas[0]
    warmup_step(opt, iteration=0, warmup_iters=200, epoch=0, lf=lf, hyp=hyp)
    for g in opt.param_groups:
        expected = hyp.warmup_bias_lr * g["lr_mult"] if g["name"].endswith("bias") else 0.0
        assert math.isclose(g["lr"], expected)
        assert math.isclose(g["momentum"], hyp.warmup_momentum)
    warmup_step(opt, iteration=100, warmup_iters=200, epoch=0, lf=lf, hyp=hyp)
    bias = next(g for g in opt.param_groups if g["name"] == "bias")
    decay = next(g for g in opt.param_groups if g["name"] == "decay")
    assert math.isclose(bias["lr"], (0.1 + 0.01) / 2) and math.isclose(decay["lr"], 0.005)
    assert math.isclose(decay["momentum"], (0.8 + 0.937) / 2)
    warmup_step(opt, iteration=200, warmup_iters=200, epoch=2, lf=lf, hyp=hyp.to_dict())  # a dict works too
    for g in opt.param_groups:
        assert math.isclose(g["lr"], hyp.lr0 * g["lr_mult"] * lf(2))
        assert math.isclose(g["momentum"], hyp.momentum)


def test_warmup_helpers() -> None:
    assert warmup_iterations(3.0, 10) == 100 and warmup_iterations(3.0, 1000) == 3000
    assert accumulate_steps(0, 100, batch_size=16) == 1
    assert accumulate_steps(100, 100, batch_size=16) == 4 and accumulate_steps(500, 100, batch_size=16) == 4
    assert math.isclose(scaled_weight_decay(5e-4, 16), 5e-4)
    assert math.isclose(scaled_weight_decay(5e-4, 48), 5e-4 * 48 / 64)


def test_freeze_backbone_stages(model: yololab.Detector) -> None:
    stages = model.backbone.stages()
    frozen = freeze_backbone_stages(model, 2)
    assert frozen == sum(p.numel() for s in stages[:2] for p in s.parameters())
    assert all(not p.requires_grad for s in stages[:2] for p in s.parameters())
    assert all(p.requires_grad for s in stages[2:] for p in s.parameters())
    model.train()   # frozen BN stays in eval mode through forward passes
    bn = next(m for m in stages[0].modules() if isinstance(m, nn.BatchNorm2d))
    live_bn = next(m for m in stages[3].modules() if isinstance(m, nn.BatchNorm2d))
    before, live_before = bn.running_mean.clone(), live_bn.running_mean.clone()
    out = model(torch.rand(2, 3, 64, 64))
    assert torch.equal(bn.running_mean, before) and not bn.training
    assert not torch.equal(live_bn.running_mean, live_before)
    sum(o.sum() for o in out).backward()
    assert all(p.grad is None for s in stages[:2] for p in s.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    with pytest.raises(ValueError):
        freeze_backbone_stages(model, len(stages) + 1)
    unfreeze_backbone(model)
    model.train()
    model(torch.rand(2, 3, 64, 64))
    assert bn.training and all(p.requires_grad for p in model.parameters())
    assert not torch.equal(bn.running_mean, before)
