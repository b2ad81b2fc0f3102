"""Training parts: hyperparameters, target assignment and loss, EMA, optimizer and schedule."""

from yololab.train.assign import LevelTargets, match_anchors, ota_assign
from yololab.train.ema import ModelEMA
from yololab.train.freeze import freeze_backbone_stages, unfreeze_backbone
from yololab.train.hyp import Hyperparameters, scale_loss_gains
from yololab.train.loss import YOLOLoss
from yololab.train.optim import build_optimizer, parameter_groups
from yololab.train.schedule import (accumulate_steps, build_scheduler, lr_lambda, scaled_weight_decay,
                                    warmup_iterations, warmup_step)

__all__ = ["Hyperparameters", "scale_loss_gains", "YOLOLoss", "LevelTargets", "match_anchors", "ota_assign",
           "ModelEMA", "build_optimizer", "parameter_groups", "build_scheduler", "lr_lambda", "warmup_step",
           "warmup_iterations", "accumulate_steps", "scaled_weight_decay", "freeze_backbone_stages",
           "unfreeze_backbone"]
