"""What a comparison ran on: library versions, Python, platform, CPU and GPU names."""

from __future__ import annotations

import platform
from typing import Any

from yololab.hardware import cpu_name, cuda_name
from yololab.version import __version__


def environment() -> dict[str, Any]:
    """Versions and devices, for the report."""
    import timm
    import torch

    info = {"yololab": __version__, "torch": torch.__version__, "timm": timm.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_name(),
            "torch_threads": torch.get_num_threads(),
            "cuda": cuda_name(0) if torch.cuda.is_available() else None}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    return info
