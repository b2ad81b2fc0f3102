"""What the validation loop needs from a model: a PyTorch Detector and an exported file both fit."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class ValModel(Protocol):
    """A callable model whose raw output ``decode`` turns into (B, N, 5 + num_classes) boxes.

    ``stride`` is the largest feature stride (inputs are letterboxed to multiples of it); ``input_hw``
    is a fixed (height, width) input size, or None when the model takes any multiple of ``stride``.
    Opening a file as a model (a .pt, an ONNX or OpenVINO export) is the caller's job.
    """

    stride: int
    num_classes: int

    def __call__(self, images: torch.Tensor) -> Any: ...

    def decode(self, raw: Any) -> torch.Tensor: ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


def input_hw(model: ValModel) -> tuple[int, int] | None:
    """The model's fixed input size, or None (PyTorch detectors and dynamic exports)."""
    return getattr(model, "input_hw", None)
