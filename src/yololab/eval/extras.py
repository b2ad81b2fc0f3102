"""What ``yololab val`` adds to the COCO metrics on request, behind one call: VOC AP50, the error
analysis (plots and TIDE figures) and the image-level bootstrap (paired with a reference file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from yololab.jsonfile import read_json


@dataclass(frozen=True)
class ExtraOptions:
    """``--metric``, ``--plots``, ``--bootstrap``, ``--dt-ref`` and ``--seed``."""

    metric: Literal["coco", "voc07", "voc12"] = "coco"  # voc07 / voc12: also VOC AP50
    plots: Path | None = None  # error-analysis folder
    bootstrap: int | None = None  # resamples (1000 when only dt_ref is given)
    dt_ref: Path | None = None  # a reference results file on the same ground truth: paired bootstrap
    seed: int = 0  # of the bootstrap resampling


@dataclass(frozen=True)
class ExtraReport:
    """The extras' lines for the terminal and their values for ``--json``."""

    lines: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)


def score_extras(gt: dict, dt: list[dict], options: ExtraOptions) -> ExtraReport:
    """Every extra ``options`` asks for, of detections ``dt`` against ground truth ``gt`` (COCO dicts)."""
    lines: list[str] = []
    values: dict[str, Any] = {}
    if options.metric != "coco":
        from yololab.eval.analysis import voc_ap

        voc = voc_ap(gt, dt, options.metric)
        values[f"{options.metric}_map50"] = voc["map"]
        values[f"{options.metric}_per_class"] = voc["per_class"]
        lines.append(f"{options.metric.upper()} mAP50 ({'11-point' if options.metric == 'voc07' else 'all-point'} "
                     f"interpolation): {voc['map']:.4f}")
    if options.plots:
        from yololab.eval.analysis import analyze

        summary = analyze(gt, dt, options.plots)
        values["analysis"] = {k: v for k, v in summary.items() if k != "files"}
        errors = ", ".join(f"{k} {v:.2f}" for k, v in summary["errors"].items())
        lines += [f"best F1 {summary['best_f1']:.3f} at conf {summary['best_conf']:.3f}; "
                  f"mAP50 points lost to (TIDE): {errors}", f"analysis plots: {options.plots}"]
    if options.dt_ref or options.bootstrap:
        from yololab.eval.bootstrap import bootstrap_map, format_bootstrap

        dt_ref = read_json(options.dt_ref) if options.dt_ref else None
        result = bootstrap_map(gt, dt, dt_ref, n=options.bootstrap or 1000, seed=options.seed)
        values.update(result)
        lines.append(format_bootstrap(result))
    return ExtraReport(tuple(lines), values)
