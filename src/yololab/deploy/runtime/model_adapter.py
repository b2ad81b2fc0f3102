"""Run an exported model (ONNX, OpenVINO IR, TorchScript) where a :class:`Detector` is expected.

``validate`` (and ``yololab val``) calls ``model.decode(model(x))`` on letterboxed batches and reads
``model.num_classes`` and ``model.stride`` (the ``yololab.eval.protocol.ValModel`` protocol). :class:`ExportedModel` gives an exported file that
interface: its graph already decodes, so ``forward`` returns the decoded (B, N, 5+nc) tensor and
``decode`` is the identity.

Shapes: a ``dynamic`` export takes validation's rectangular batches (e.g. 16x3x480x672) as they
are, so its metrics equal the .pt's. A fixed-shape export (e.g. 1xCx640x640) cannot: ``validate``
sees ``input_hw`` and scores it with square letterboxed batches at ``image_size`` instead (upstream
val.py does the same for its fixed-shape backends), which gives the .pt's square-letterbox metrics
(a little lower than rect batches; the README has the figures). A batch smaller than the fixed input is
padded, centred, with the letterbox grey and the box centres shifted back; a larger one is an
error. Batch splitting/padding to a fixed export batch is done by :class:`Backend`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from yololab.deploy.runtime.backends import Backend, backend_kind

# the letterbox grey, as network input (pad_input_value() of yololab.data.imaging.pixels for others)
PAD_VALUE = 114 / 255


class ExportedModel(nn.Module):
    """A :class:`Backend` wrapped as an eval-only ``nn.Module`` with the Detector attributes
    ``validate`` needs (``head.num_classes``, ``stride``, ``names``, ``decode``, ``fuse``)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, kind: str | None = None) -> None:
        super().__init__()
        self.backend = Backend(path, threads=threads, kind=kind)
        self.path = Path(path)
        self.names = self.backend.names
        nc = len(self.names) or int((self.backend.meta.get("spec") or {}).get("num_classes", 0))
        if not nc:  # no metadata (a foreign export): ask the graph
            hw = self.backend.static_hw or (2 * self.backend.stride,) * 2
            nc = self.backend.infer(np.zeros((1, self.backend.in_channels, *hw), np.float32)).shape[-1] - 5
        self.num_classes = nc
        self.head = SimpleNamespace(num_classes=nc)  # Detector-compatible
        self.stride = self.backend.stride
        self.train(False)

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """The export's fixed (height, width), or None for a dynamic export."""
        return self.backend.static_hw

    # -- the Detector-like surface ------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.detach().float().cpu().numpy()
        static = self.backend.static_hw
        if static is None or tuple(images.shape[2:]) == static:
            out = self.backend.infer(images)
        else:
            out = self._infer_padded(images, static)
        return torch.from_numpy(out).to(x.device)

    def decode(self, pred: torch.Tensor) -> torch.Tensor:
        return pred  # the exported graph decodes already

    def fuse(self) -> ExportedModel:
        return self  # exports are fused

    def channels_last(self) -> ExportedModel:
        return self  # the runtime chooses its own layout

    def train(self, mode: bool = True) -> ExportedModel:
        return super().train(False)  # nothing here trains; keep eval semantics

    def info(self) -> dict[str, Any]:
        return self.backend.info()

    # -- fixed-shape exports ------------------------------------------------------------------
    def _infer_padded(self, images: np.ndarray, static: tuple[int, int]) -> np.ndarray:
        h, w = images.shape[2:]
        sh, sw = static
        if h > sh or w > sw:
            raise ValueError(f"{self.path.name} was exported for {sh}x{sw} inputs and cannot take "
                             f"{h}x{w} batches; validate at --imgsz {max(sh, sw)} or lower, or "
                             f"re-export with --dynamic")
        top, left = (sh - h) // 2, (sw - w) // 2
        padded = np.full((len(images), images.shape[1], sh, sw), PAD_VALUE, np.float32)
        padded[:, :, top:top + h, left:left + w] = images
        out = self.backend.infer(padded).copy()
        out[..., 0] -= left
        out[..., 1] -= top
        return out


def is_exported(path: str | os.PathLike) -> bool:
    """True for files/folders a :class:`Backend` runs other than a .pt checkpoint."""
    try:
        return backend_kind(path) != "torch"
    except ValueError:
        return False


def load_val_model(weights: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                   in_channels: int | None = None) -> nn.Module:
    """A .pt checkpoint as a :class:`Detector`; an .onnx / .xml / OpenVINO folder / .torchscript
    export as an :class:`ExportedModel` (same ``validate`` interface). ``kind`` picks the backend of
    an export (e.g. ``openvino-bf16`` for an IR, ``openvino`` for an .onnx). ``in_channels`` (the data's)
    adapts a checkpoint's stem where it differs (an export keeps the channels it was exported with)."""
    if is_exported(weights) or kind not in (None, "torch"):
        return ExportedModel(weights, threads=threads, kind=kind)  # Backend refuses a file it cannot run
    from yololab.models.checkpoints import load_model

    return load_model(weights, in_channels=in_channels)
