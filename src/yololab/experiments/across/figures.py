"""Forest plots: per comparison, each data set's Δ with its 95% interval, the pooled diamond and the
prediction interval for a new data set; critical-difference diagrams of the rank tests (matplotlib
without pyplot state)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from yololab.experiments.across.pooling import AcrossRow, RankTest
from yololab.experiments.report.plots import save_figure


def forest_figure(row: AcrossRow) -> Figure | None:
    """None for the reference or where nothing was pooled."""
    if row.is_reference or row.pooled is None:
        return None
    p = row.pooled
    tests = [(d.dataset, d.test) for d in row.per_dataset if d.test is not None]
    n = len(tests)
    fig = Figure(figsize=(6.0, 1.2 + 0.45 * (n + 2)))
    ax = fig.add_subplot()
    for i, (name, t) in enumerate(tests):
        y = n + 1 - i
        ax.plot([100 * t.ci95[0], 100 * t.ci95[1]], [y, y], color="#444", lw=1.5)
        ax.plot([100 * t.delta], [y], "s", color="#1f77b4", ms=6)
    lo, hi = p.ci95
    ax.fill([100 * lo, 100 * p.delta, 100 * hi, 100 * p.delta], [0.5, 0.8, 0.5, 0.2], color="#d62728",
            label="pooled [95% CI]")
    if p.prediction_interval is not None:
        plo, phi = p.prediction_interval
        ax.plot([100 * plo, 100 * phi], [0.0, 0.0], color="#d62728", lw=1, ls="--",
                label="prediction interval (new data set)")
    ax.axvline(0.0, color="#999", lw=0.8)
    ax.set_yticks([n + 1 - i for i in range(n)] + [0.5], [name for name, _ in tests] + ["pooled"])
    ax.set_xlabel(f"Δ mAP50-95 vs {row.row.comparison.reference} (points)")
    ax.set_title(f"{row.row.entry.model} {row.row.entry.label}", fontsize=10)
    ax.legend(loc="best", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def forest_plot(row: AcrossRow, stem: Path) -> dict[str, Path] | None:
    fig = forest_figure(row)
    return None if fig is None else save_figure(fig, stem)


def rank_figure(test: RankTest) -> Figure:
    """The critical-difference diagram of one model's entries over the data sets (scikit-posthocs):
    mean ranks on the axis, entries joined by a bar where the Holm-corrected pairwise Wilcoxon tests
    find no difference."""
    import pandas as pd
    import scikit_posthocs as sp

    labels = list(test.labels)
    ranks = pd.Series(dict(zip(labels, test.mean_ranks)))
    sig = pd.DataFrame([list(row) for row in test.pairwise_p_holm], index=labels, columns=labels)
    fig = Figure(figsize=(6.0, 0.6 + 0.35 * len(labels)))
    ax = fig.add_subplot()
    sp.critical_difference_diagram(ranks, sig, ax=ax)
    ax.set_title(f"{test.model}: mean rank over data sets (Friedman p {test.p_value:.3g})", fontsize=9)
    return fig


def rank_plot(test: RankTest, stem: Path) -> dict[str, Path]:
    return save_figure(rank_figure(test), stem)
