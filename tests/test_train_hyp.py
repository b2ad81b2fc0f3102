"""Hyperparameter defaults and upstream gain scaling."""

from __future__ import annotations

import math

import pytest

from yololab.config import ConfigError
from yololab.train import Hyperparameters, scale_loss_gains


def test_scratch_low_defaults() -> None:
    h = Hyperparameters()
    assert (h.lr0, h.lrf, h.momentum, h.weight_decay) == (0.01, 0.01, 0.937, 5e-4)
    assert (h.warmup_epochs, h.warmup_momentum, h.warmup_bias_lr) == (3.0, 0.8, 0.1)
    assert (h.box, h.cls, h.cls_pw, h.obj, h.obj_pw) == (0.05, 0.5, 1.0, 1.0, 1.0)
    assert (h.iou_t, h.anchor_t, h.fl_gamma, h.label_smoothing) == (0.2, 4.0, 0.0, 0.0)


def test_gain_scaling_like_upstream_train() -> None:
    h = Hyperparameters()
    s = scale_loss_gains(h, num_layers=3, num_classes=20, image_size=320)
    assert math.isclose(s.box, 0.05) and math.isclose(s.cls, 0.5 * 20 / 80) and math.isclose(s.obj, 0.25)
    s4 = scale_loss_gains(h, num_layers=4, num_classes=80, image_size=640)
    assert math.isclose(s4.box, 0.05 * 0.75) and math.isclose(s4.cls, 0.375) and math.isclose(s4.obj, 0.75)
    assert h.box == 0.05 and h.cls == 0.5 and h.obj == 1.0   # the original is untouched
    assert s.lr0 == h.lr0


def test_from_dict_and_yaml(tmp_path) -> None:
    values = {"lr0": 0.02, "box": 0.1, "mosaic": 1.0}
    h = Hyperparameters.from_dict(values)
    assert h.lr0 == 0.02 and h.box == 0.1 and h.momentum == 0.937
    with pytest.raises(ConfigError, match="unknown key.*'mosaic'"):
        Hyperparameters.from_dict(values, strict=True)
    with pytest.raises(ConfigError, match="lr0: expected float, got str"):
        Hyperparameters.from_dict({"lr0": "0.02"})
    path = tmp_path / "hyp.yaml"
    path.write_text("lr0: 0.005\nfl_gamma: 1.5\nhsv_h: 0.015\n")
    h = Hyperparameters.from_yaml(path)
    assert h.lr0 == 0.005 and h.fl_gamma == 1.5
    assert Hyperparameters.from_dict(h.to_dict()) == h
