"""Deployment: export (ONNX / OpenVINO / TorchScript), backends, predict, bench and serve.

Names are imported lazily so that ``yololab`` commands that do not deploy stay fast to start.
"""

from yololab.lazy import lazy_getattr

_EXPORTS = {
    "export_model": "yololab.deploy.export",
    "ExportParityError": "yololab.deploy.export",
    "Backend": "yololab.deploy.backends",
    "load_backend": "yololab.deploy.backends",
    "Predictor": "yololab.deploy.pipeline",
    "predict": "yololab.deploy.predict",
    "run_bench": "yololab.deploy.bench",
    "BenchResult": "yololab.deploy.bench",
    "ServeConfig": "yololab.deploy.serve",
    "create_app": "yololab.deploy.serve",
    "serve": "yololab.deploy.serve",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
