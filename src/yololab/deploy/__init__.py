"""Deployment: export (ONNX / OpenVINO / TorchScript), backends, predict, bench and serve.

Names are imported lazily so that ``yololab`` commands that do not deploy stay fast to start.
"""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    "export_model": "yololab.deploy.exporting.export",
    "ExportParityError": "yololab.deploy.exporting.export",
    "Backend": "yololab.deploy.runtime.backends",
    "load_backend": "yololab.deploy.runtime.backends",
    "Predictor": "yololab.deploy.runtime.pipeline",
    "predict": "yololab.deploy.predict",
    "run_bench": "yololab.deploy.bench",
    "BenchResult": "yololab.deploy.bench",
    "ServeConfig": "yololab.deploy.serving.serve",
    "create_app": "yololab.deploy.serving.serve",
    "serve": "yololab.deploy.serving.serve",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
