"""Training checkpoints: plain dicts and tensors only, so ``torch.load(weights_only=True)`` reads them.

A ``last.pt``/``best.pt`` is a regular yololab model checkpoint (``spec`` + ``state_dict`` of the EMA
model, which :func:`yololab.models.checkpoints.load_model` reads) plus everything an exact resume
needs: the raw training weights, optimizer, scheduler, grad scaler, EMA update count, epoch, best
fitness, early-stopping state and the RNG states.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yololab.models.checkpoints import CheckpointError, model_checkpoint, read_weights_only

RESUME_KEYS = ("model_state", "optimizer", "scheduler", "epoch", "ema_updates")


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) generator states as weights-only-safe values."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved (missing parts are left alone)."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        s = state["numpy"]
        np.random.set_state({"bit_generator": "MT19937",
                             "state": {"key": s["key"].numpy().astype(np.uint32), "pos": int(s["pos"])},
                             "has_gauss": int(s["has_gauss"]), "gauss": float(s["gauss"])})
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _cpu(obj: Any) -> Any:
    """Tensors moved to CPU, recursively (optimizer state may live on the GPU)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def training_checkpoint(*, ema_model: torch.nn.Module, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: Any, scaler: Any, ema_updates: int, epoch: int, best_fitness: float,
                        best_epoch: int, config: Any, hyp: Any, metrics: dict | None = None,
                        pixels: dict | None = None) -> dict:
    """The dict saved as last.pt / best.pt (see the module docstring); ``pixels``: the data's
    :meth:`~yololab.data.imaging.pixels.PixelSpec.to_dict`, kept under ``pixels`` so that val, predict and serve
    decode and normalise as training did."""
    return model_checkpoint(
        ema_model,
        model_state={k: v.detach().cpu() for k, v in model.state_dict().items()},
        optimizer=_cpu(optimizer.state_dict()),
        scheduler={k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
        scaler=scaler.state_dict() if scaler is not None and scaler.is_enabled() else {},
        ema_updates=int(ema_updates),
        epoch=int(epoch),
        best_fitness=float(best_fitness),
        best_epoch=int(best_epoch),
        rng=rng_state(),
        train_config=_plain(dataclasses.asdict(config)) if dataclasses.is_dataclass(config) else dict(config),
        hyp=_plain(dataclasses.asdict(hyp)) if dataclasses.is_dataclass(hyp) else dict(hyp),
        metrics=_plain(metrics or {}),
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **({} if pixels is None else {"pixels": pixels}),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def read_training_checkpoint(path: str | Path) -> dict:
    """Load a last.pt for resuming (weights only); a clear error when it is missing or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} does not exist (nothing was saved yet in this run "
                                f"folder; start without --resume)")
    try:
        ckpt = read_weights_only(path)
    except CheckpointError as err:
        start_from = f" (to train from it, start a new run with --weights {path})" if "pickled" in str(err) else ""
        raise CheckpointError(f"cannot resume: {err}. Resume from a good copy of last.pt, or start over "
                              f"with --exist-ok (or another --out){start_from}") from None
    missing = [k for k in RESUME_KEYS if k not in ckpt] if isinstance(ckpt, dict) else list(RESUME_KEYS)
    if missing:
        raise CheckpointError(f"cannot resume from {path}: it has no training state ({', '.join(missing)} "
                              f"missing); use it as --weights instead")
    return ckpt
