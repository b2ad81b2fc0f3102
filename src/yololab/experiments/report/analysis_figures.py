"""The error-analysis part of a comparison report: PR curves of every backbone overlaid (one plot per
model), TIDE error breakdowns side by side (mean over seeds) and the per-class AP table.

Each cell's analysis (``cells/<id>/analysis/``) is written when the cell is scored; the PR overlay uses
the lowest seed of each backbone (one curve per backbone keeps the plot readable; the caption says so).
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path
from typing import Any

from yololab.eval.analysis import ERROR_TYPES, plot_errors_side_by_side, plot_pr_overlay
from yololab.experiments.results.records import CellResult, SummaryRow
from yololab.jsonfile import read_json


def _done(rows: list[CellResult]) -> list[CellResult]:
    return [r for r in rows if r.done and r.cell_dir]


def _both_formats(plot: Any, stem: Path, *args: Any) -> dict[str, Path]:
    """Draw with ``plot(*args, path)`` as PNG (inline in the report) and SVG (for the paper)."""
    return {"png": plot(*args, stem.with_suffix(".png")), "svg": plot(*args, stem.with_suffix(".svg"))}


def pr_overlays(out: Path, cell_rows: list[CellResult], plot_dir: Path) -> list[dict[str, Any]]:
    """One figure per model: the mean PR curve (IoU 0.5) of each backbone's lowest-seed cell."""
    first: dict[str, dict[str, CellResult]] = defaultdict(dict)
    for row in sorted(_done(cell_rows), key=lambda r: r.seed or 0):
        first[row.entry.model].setdefault(row.entry.label, row)
    figures = []
    for model, by_backbone in first.items():
        curves = {}
        for backbone, row in by_backbone.items():
            whole = "_whole" if row.provenance.scoring == "whole image" else ""  # the slicing ablation's twin
            path = out / row.cell_dir / f"analysis{whole}" / "pr_curve.json"
            if path.is_file():
                curves[f"{backbone} (seed {row.seed})"] = read_json(path)
        if curves:
            stem = plot_dir / f"pr_overlay_{model}"
            figures.append({"title": f"Precision-recall, {model}",
                            "caption": "Mean precision over classes against recall at IoU 0.5 on the scoring "
                                       "split, one curve per backbone (its lowest seed); the legend gives mAP50.",
                            **_both_formats(plot_pr_overlay, stem, curves)})
    return figures


def error_breakdown(cell_rows: list[CellResult], plot_dir: Path) -> dict[str, Any] | None:
    """TIDE dAP50 per error type, mean over each (model, backbone)'s seeds, as grouped bars."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in _done(cell_rows):
        errors = row.analysis.errors if row.analysis is not None else None
        if errors:
            for kind in ERROR_TYPES:
                sums[f"{row.entry.model} + {row.entry.label}"][kind].append(float(errors.get(kind, 0.0)))
    if not sums:
        return None
    means = {label: {k: sum(v) / len(v) for k, v in kinds.items()} for label, kinds in sums.items()}
    return {"title": "Error breakdown (TIDE)",
            "caption": "mAP50 points each error type costs (Bolya et al. 2020: classification, localisation, both, "
                       "duplicate, background, missed; foreground IoU 0.5, background 0.1), mean over seeds.",
            **_both_formats(plot_errors_side_by_side, plot_dir / "errors_side_by_side", means)}


def per_class_table_html(mean_rows: list[SummaryRow]) -> str:
    """Class names with their instance count and AP50-95 (%) per (model, backbone), mean over seeds."""
    rows = [r for r in mean_rows if r.accuracy.per_class]
    if not rows:
        return ""
    classes: list[str] = []
    for r in rows:
        classes += [c for c in r.accuracy.per_class if c not in classes]
    head = "".join(f"<th>{html.escape(str(r.entry.model))} + {html.escape(str(r.entry.label))}</th>" for r in rows)
    body = []
    for c in classes:
        found = [r.accuracy.per_class[c] for r in rows if c in r.accuracy.per_class]
        instances = next((a.instances for a in found if a.instances is not None), "")
        cells = "".join(f'<td class="num">{100 * (_ap50_95(r, c) or 0.0):.1f}</td>' for r in rows)
        body.append(f"<tr><td>{html.escape(c)}</td><td class=\"num\">{instances}</td>{cells}</tr>")
    return ("<h3>Per-class AP50-95 (%)</h3><div class='scroll'><table class='per-class'>"
            f"<thead><tr><th>class</th><th>instances</th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table></div>")


def _ap50_95(row: SummaryRow, name: str) -> float | None:
    found = row.accuracy.per_class.get(name)
    return found.ap50_95 if found is not None else None
