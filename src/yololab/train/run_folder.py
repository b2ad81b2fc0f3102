"""Guards of a run folder: no silent overwrite of a finished run, a resume only from the run's own
checkpoint, and one sentence when a checkpoint cannot be saved."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from yololab.atomic import WriteError
from yololab.errors import UserError
from yololab.models.zoo import get_variant
from yololab.train.config import TrainConfig


def refuse_existing_run(out: Path) -> None:
    """Raise :class:`UserError` when ``out`` already holds a run's weights (``--resume`` or
    ``--exist-ok`` say what to do with them)."""
    found = [p for p in (out / "weights" / "last.pt", out / "weights" / "best.pt") if p.exists()]
    if found:
        raise UserError(f"run folder {out} already holds a run ({', '.join(p.name for p in found)}); training "
                        f"would replace it. Continue it with --resume, start over with --exist-ok (replaces "
                        f"its weights and results.csv), or train into a new --out")


def _describe(model: str, backbone: str | None, num_classes: int) -> str:
    return f"{model} ({backbone} backbone, {num_classes} classes)"


def check_resume_matches(ckpt: dict[str, Any], cfg: TrainConfig, num_classes: int, last: Path) -> None:
    """Refuse a ``last.pt`` whose model, backbone or number of classes is not the run's (config.yaml
    and the data), naming both."""
    spec, saved = ckpt.get("spec", {}), ckpt.get("train_config") or {}
    try:
        variant = get_variant(cfg.model)
        want_model, want_backbone = variant.name, cfg.backbone or variant.native_backbone
    except KeyError:
        want_model, want_backbone = cfg.model, cfg.backbone
    have = (spec.get("model"), spec.get("backbone"), spec.get("num_classes"))
    # a run started from --weights trains that file's architecture: compare with the config it saved
    if cfg.weights:
        same = (saved.get("model"), saved.get("backbone")) == (cfg.model, cfg.backbone)
    else:
        same = (have[0], have[1]) == (want_model, want_backbone)
    if not same or have[2] != num_classes:
        raise UserError(f"cannot resume: {last} holds a {_describe(*have)}, but the run's config.yaml and data "
                        f"say {_describe(want_model, want_backbone, num_classes)}; put the run's own last.pt "
                        f"back, or train the other model into a new --out")


def save_failure_message(err: WriteError, epoch: int, last: Path, out: Path) -> str:
    """What a failed checkpoint save tells the user: the file, what is intact, how to go on."""
    kept = (f"the previous {last.name} (the last finished epoch before {epoch}) is intact"
            if last.exists() and err.path != last.with_name("best.pt") else
            f"{last.name} holds epoch {epoch}" if last.exists() else "no checkpoint of this run was saved yet")
    return (f"could not save epoch {epoch} to {err.path}: {os.strerror(err.cause.errno)} (errno "
            f"{err.cause.errno}); {kept}. Free space or fix the permissions, then continue with "
            f"yololab train --out {out} --resume")
