"""The robustness figures of a comparison report (``robustness:``): a corruption x backbone heatmap of
mAP50-95 (mean over severities, with mPC) and mAP50-95 against severity per corruption family."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from yololab.data.corruptions import FAMILIES
from yololab.experiments.report.plots import save_figure
from yololab.experiments.results.records import SummaryRow


def _label(row: SummaryRow, rows: Sequence[SummaryRow]) -> str:
    return row.entry.label if len({r.entry.model for r in rows}) == 1 else f"{row.entry.model} {row.entry.label}"


def _family(name: str) -> str:
    return next((f for f, names in FAMILIES.items() if name in names), "extra")


def corruption_heatmap(rows: Sequence[SummaryRow], stem: Path) -> dict[str, Path] | None:
    """mAP50-95 (%) per corruption (columns, then mPC) and entry (rows), each the mean over severities and seeds."""
    rows = [r for r in rows if r.robustness is not None and r.robustness.corruption_ap]
    if not rows:
        return None
    names = list(dict.fromkeys(n for r in rows for n in r.robustness.corruption_ap))
    grid = [[100 * statistics.fmean(r.robustness.corruption_ap[n].values()) if n in r.robustness.corruption_ap
             else float("nan") for n in names] + [100 * r.robustness.mpc.mean if r.robustness.mpc else float("nan")]
            for r in rows]
    fig = Figure(figsize=(1.2 + 0.55 * (len(names) + 1), 1.2 + 0.4 * len(rows)))
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0)
    ax.set_xticks(range(len(names) + 1), [*names, "mPC"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [_label(r, rows) for r in rows], fontsize=8)
    top = max((v for line in grid for v in line if v == v), default=0.0)
    for i, line in enumerate(grid):
        for j, v in enumerate(line):
            if v == v:
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 * top else "white")
    ax.axvline(len(names) - 0.5, color="white", lw=2)
    fig.colorbar(image, ax=ax, label="mAP50-95 (%)")
    ax.set_title("mAP50-95 under corruption (mean over severities)")
    return save_figure(fig, stem)


def severity_curves(rows: Sequence[SummaryRow], stem: Path) -> dict[str, Path] | None:
    """One panel per corruption family: mAP50-95 (%) against severity (0: clean) per entry, the mean over
    the family's corruptions scored."""
    rows = [r for r in rows if r.robustness is not None and r.robustness.corruption_ap]
    if not rows:
        return None
    families = list(dict.fromkeys(_family(n) for r in rows for n in r.robustness.corruption_ap))
    fig = Figure(figsize=(3.2 * len(families), 3.0))
    axes = fig.subplots(1, len(families), sharey=True, squeeze=False)[0]
    for ax, family in zip(axes, families):
        for row in rows:
            table = {n: v for n, v in row.robustness.corruption_ap.items() if _family(n) == family}
            severities = sorted({int(s) for v in table.values() for s in v})
            points = [(0, 100 * row.accuracy.map50_95.mean)] if row.accuracy.map50_95 is not None else []
            points += [(s, 100 * statistics.fmean(v[str(s)] for v in table.values() if str(s) in v)) for s in severities]
            ax.plot(*zip(*points), marker="o", label=_label(row, rows))
        ax.set_title(family)
        ax.set_xlabel("severity (0: clean)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mAP50-95 (%)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, stem)


def robustness_figures(rows: Sequence[SummaryRow], plot_dir: Path) -> list[dict[str, Any]]:
    """The two figures as report entries ({'title', 'caption', 'png', 'svg'}); none without mPC."""
    out = []
    heat = corruption_heatmap(rows, plot_dir / "corruption_heatmap")
    if heat:
        out.append({"title": "Robustness: mAP50-95 per corruption", "caption": (
            "mAP50-95 (%) of each entry under each corruption, the mean over the severities scored and over seeds; "
            "the last column is mPC (the mean over every corruption and severity). Δ mPC in the tables is tested "
            "like Δ mAP50-95, on image resamples shared by every corruption and severity."), **heat})
    curves = severity_curves(rows, plot_dir / "severity_curves")
    if curves:
        out.append({"title": "Robustness: mAP50-95 vs severity", "caption": (
            "Per corruption family, the mean mAP50-95 (%) over its corruptions scored at each severity; "
            "severity 0 is the clean scoring split."), **curves})
    return out
