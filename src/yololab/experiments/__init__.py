"""Fair backbone comparisons: an ExperimentSpec (models x backbones x seeds) -> trained, scored and timed
cells -> results.{csv,json,md,tex}, plots and a self-contained report.html.

By stage, each sub-package importing only those below it (pyproject's import-linter contract):
``plan`` (the spec checked and resolved) -> ``run`` (cells trained) -> ``score`` (cells scored and timed)
-> ``stats`` -> ``report`` (tables, plots, report.html); ``tuning`` runs before the seeds; ``results``
holds the records every stage reads and writes; ``compare`` and ``phases`` drive one comparison.

    from yololab.experiments import RunSettings, load_spec, run_compare
    run_compare(load_spec("exp.yaml"), "runs/compare", RunSettings(executor="process", devices="0,1"))
"""

from yololab.lazy import lazy_getattr

_MODULES = {
    "ExperimentSpec": "plan.spec", "BackboneEntry": "plan.spec", "Cell": "plan.spec", "load_spec": "plan.spec",
    "spec_from_mapping": "plan.spec", "expand_cells": "plan.spec",
    "run_compare": "compare", "CompareResult": "compare", "RunSettings": "plan.run_settings",
    "ComparisonPlan": "plan.comparison_plan", "plan_comparison": "plan.comparison_plan",
    "write_report": "report.writer", "aggregate_rows": "report.aggregate", "CellResult": "results.records",
    "SummaryRow": "results.records", "read_results": "results.records_io",
    "run_demo": "demo", "DemoSettings": "demo",
}
__getattr__ = lazy_getattr(__name__, {name: f"{__name__}.{module}" for name, module in _MODULES.items()})
__all__ = list(_MODULES)
