"""Deployment: export (ONNX / OpenVINO / TorchScript), backends, predict, bench and serve.

Names are imported lazily so that ``yololab`` commands that do not deploy stay fast to start.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "export_model": "yololab.deploy.export",
    "ExportParityError": "yololab.deploy.export",
    "Backend": "yololab.deploy.backends",
    "load_backend": "yololab.deploy.backends",
    "Predictor": "yololab.deploy.pipeline",
    "predict": "yololab.deploy.predict",
    "run_bench": "yololab.deploy.bench",
    "ServeConfig": "yololab.deploy.serve",
    "create_app": "yololab.deploy.serve",
    "serve": "yololab.deploy.serve",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'yololab.deploy' has no attribute {name!r}")
