"""Fair backbone comparisons: an ExperimentSpec (models x backbones x seeds) -> trained, scored and timed
cells -> results.{csv,json,md,tex}, plots and a self-contained report.html.

    from yololab.experiments import load_spec, run_compare
    run_compare(load_spec("exp.yaml"), "runs/compare", executor="process", devices="0,1")
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExperimentSpec": "spec", "BackboneEntry": "spec", "Cell": "spec", "load_spec": "spec",
    "spec_from_mapping": "spec", "expand_cells": "spec",
    "run_compare": "compare", "CompareResult": "compare",
    "write_report": "report", "aggregate_rows": "metrics",
    "run_demo": "demo", "DemoSettings": "demo",
}


def __getattr__(name: str) -> Any:  # lazy: `yololab --help` should not import torch-heavy modules
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
