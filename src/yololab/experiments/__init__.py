"""Fair backbone comparisons: an ExperimentSpec (models x backbones x seeds) -> trained, scored and timed
cells -> results.{csv,json,md,tex}, plots and a self-contained report.html.

    from yololab.experiments import RunSettings, load_spec, run_compare
    run_compare(load_spec("exp.yaml"), "runs/compare", RunSettings(executor="process", devices="0,1"))
"""

from yololab.lazy import lazy_getattr

_MODULES = {
    "ExperimentSpec": "spec", "BackboneEntry": "spec", "Cell": "spec", "load_spec": "spec",
    "spec_from_mapping": "spec", "expand_cells": "spec",
    "run_compare": "compare", "CompareResult": "compare", "RunSettings": "run_settings",
    "ComparisonPlan": "plan", "plan_comparison": "plan",
    "write_report": "report", "aggregate_rows": "aggregate", "CellResult": "records", "SummaryRow": "records",
    "read_results": "records_io",
    "run_demo": "demo", "DemoSettings": "demo",
}
__getattr__ = lazy_getattr(__name__, {name: f"{__name__}.{module}" for name, module in _MODULES.items()})
__all__ = list(_MODULES)
