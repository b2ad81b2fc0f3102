"""What a comparison ran on: the one record of library versions, Python, platform, CPU and GPU names."""

from __future__ import annotations

import platform
from typing import Any

from yololab.hardware import cpu_name, cuda_name
from yololab.version import __version__

#: The libraries whose versions can change a table's numbers (installed distribution names).
LIBRARIES = ("torch", "torchvision", "timm", "numpy", "scipy", "opencv-python-headless", "pycocotools",
             "faster-coco-eval", "onnx", "onnxruntime")


def library_versions() -> dict[str, str | None]:
    """Installed version of each of :data:`LIBRARIES` (None when absent), read from package metadata."""
    from importlib import metadata

    out: dict[str, str | None] = {"yololab": __version__}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict[str, Any]:
    """Versions and devices, for the report and protocol.json."""
    import torch

    return {**library_versions(), "python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu_name(), "torch_threads": torch.get_num_threads(),
            "cuda": cuda_name(0) if torch.cuda.is_available() else None}
