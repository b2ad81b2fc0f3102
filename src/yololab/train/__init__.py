"""Training parts: hyperparameters, target assignment and loss, EMA, optimizer, schedule and trainer.
Names are imported on first use (no torch for ``yololab --help``)."""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    "LevelTargets": "yololab.train.assign", "match_anchors": "yololab.train.assign",
    "ota_assign": "yololab.train.assign", "ModelEMA": "yololab.train.ema",
    "freeze_backbone_stages": "yololab.train.freeze", "unfreeze_backbone": "yololab.train.freeze",
    "Hyperparameters": "yololab.train.hyp", "scale_loss_gains": "yololab.train.hyp",
    "YOLOLoss": "yololab.train.loss", "build_optimizer": "yololab.train.optim",
    "parameter_groups": "yololab.train.optim",
    **dict.fromkeys(("accumulate_steps", "build_scheduler", "lr_lambda", "scaled_weight_decay",
                     "warmup_iterations", "warmup_step"), "yololab.train.schedule"),
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
