"""Reading local ImageNet weight files (timm / torchvision key formats) safely."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import torch

from yololab.errors import CheckpointError

LOG = logging.getLogger("yololab")


class PretrainedWeightsError(CheckpointError, RuntimeError):
    """Pretrained weights could not be fetched or read; the message says what to do."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state_dict from .safetensors or a torch file (weights only, no code runs).

    Accepts the common wrappers ({'state_dict': ...}, {'model': ...}) used by timm and
    torchvision training scripts.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained backbone file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt or foreign file
        raise PretrainedWeightsError(
            f"could not read pretrained backbone weights from {path}: {err}. Expected a "
            f"state_dict saved with torch.save or safetensors") from err
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedWeightsError(f"{path} does not hold a state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def report_keys(path: str | Path, missing: list[str], unexpected: list[str],
                ignore_prefixes: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Log the key comparison of a pretrained load and return it."""
    unexpected = [k for k in unexpected if not k.startswith(ignore_prefixes)]
    if missing:
        LOG.warning("pretrained backbone %s: %d missing keys (left at their initial values): %s",
                    path, len(missing), ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        LOG.warning("pretrained backbone %s: %d unexpected keys (ignored): %s",
                    path, len(unexpected), ", ".join(unexpected[:8]) + (" ..." if len(unexpected) > 8 else ""))
    if not missing and not unexpected:
        LOG.info("pretrained backbone %s: all keys matched", path)
    return {"missing": missing, "unexpected": unexpected}


def host_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Quick check before a hub download, so offline machines fail in seconds, not minutes."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
