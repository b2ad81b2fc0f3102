"""The table across data sets: rows = model x backbone, a column group per data set (mAP50-95 mean ± CI
half-width over seeds), then the pooled Δ vs the reference [95% CI] with its mark; Markdown and LaTeX."""

from __future__ import annotations

from collections.abc import Sequence

from yololab.experiments.across.pooling import AcrossRow, AcrossTable
from yololab.experiments.report.headline import points
from yololab.experiments.report.tables import tex_cell, tex_escape
from yololab.experiments.results.records import Estimate

DASH = "–"


def map_text(estimate: Estimate | None) -> str:
    """'34.1 ± 0.5' (mean ± half the 95% interval, points); the mean alone with one seed."""
    if estimate is None or estimate.mean is None:
        return DASH
    if estimate.ci95 is None:
        return f"{100 * estimate.mean:.1f}"
    lo, hi = estimate.ci95
    return f"{100 * estimate.mean:.1f} ± {100 * (hi - lo) / 2:.1f}"


def mark(row: AcrossRow) -> str:
    """'*' significant after Holm, 'n.s.' not, '' untested."""
    return "" if row.significant is None else ("*" if row.significant else "n.s.")


def pooled_text(row: AcrossRow) -> str:
    if row.is_reference:
        return "reference"
    p = row.pooled
    if p is None:
        return DASH
    text = f"{points(p.delta)} [{points(p.ci95[0])}, {points(p.ci95[1])}]"
    return f"{text} {mark(row)}".strip()


def _label(row: AcrossRow) -> str:
    return row.row.entry.label


def notes(table: AcrossTable) -> list[str]:
    """The caption's sentences: the pooled method, the marks, and every per-data-set setting."""
    out = ["mAP50-95 (points): mean ± half the 95% interval over seeds, per data set.",
           "Pooled Δ vs the reference: random-effects meta-analysis of the per-data-set paired tests "
           "(Hartung-Knapp-Sidik-Jonkman, scale kept >= 1, t with k - 1 df); * significant after Holm, "
           "n.s. not significant."]
    stated = [f"{d.name}: {d.stated()}" for d in table.datasets if d.overrides]
    if stated:
        out.append("Set per data set: " + "; ".join(stated) + ".")
    return out


def markdown_table(table: AcrossTable) -> str:
    names = [d.name for d in table.datasets]
    head = ["model", "backbone", *(f"{n} mAP50-95" for n in names), "pooled Δ vs ref [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.rows:
        cells = [r.row.entry.model, _label(r), *(map_text(d.map50_95) for d in r.per_dataset), pooled_text(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + " ".join(notes(table)) + "\n"


def latex_table(table: AcrossTable, label: str = "tab:across") -> str:
    """A booktabs table* with a column group per data set (needs booktabs)."""
    k = len(table.datasets)
    groups = " & ".join(rf"\multicolumn{{1}}{{c}}{{{tex_escape(d.name)}}}" for d in table.datasets)
    rules = "".join(rf"\cmidrule(lr){{{3 + i}-{3 + i}}}" for i in range(k)) + rf"\cmidrule(lr){{{3 + k}-{3 + k}}}"
    header = [rf"\multicolumn{{2}}{{c}}{{}} & {groups} & \multicolumn{{1}}{{c}}{{pooled}} \\", rules,
              "Model & Backbone & " + " & ".join(["mAP50-95"] * k) + r" & $\Delta$ vs ref [95\% CI] \\"]
    body, previous = [], None
    for r in table.rows:
        if previous is not None and r.row.entry.model != previous:
            body.append(r"\midrule")
        previous = r.row.entry.model
        cells = [r.row.entry.model, _label(r), *(map_text(d.map50_95) for d in r.per_dataset), pooled_text(r)]
        body.append(" & ".join(tex_cell(c) for c in cells) + r" \\")
    caption = tex_cell(" ".join(notes(table)))
    lines = ["% yololab comparison across data sets; needs \\usepackage{booktabs}.", r"\begin{table*}[t]",
             r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{4pt}", rf"\begin{{tabular}}{{ll{'r' * k}l}}",
             r"\toprule", *header, r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
             rf"\caption{{{caption}}}", rf"\label{{{label}}}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


def headline(table: AcrossTable) -> list[str]:
    """One sentence per comparison, the pooled verdict first, then the per-data-set count."""
    out = []
    k = len(table.datasets)
    for r in table.rows:
        if r.is_reference:
            continue
        name = f"{r.row.entry.model} {_label(r)} vs {r.row.comparison.reference}"
        p = r.pooled
        if p is None:
            out.append(f"{name}: no pooled result ({r.reason or 'no paired result'}).")
            continue
        if not p.tested:
            out.append(f"{name} across {k} data sets: {points(p.delta)} points; no pooled test ({p.reason}).")
            continue
        verdict = "significant" if r.significant else "not significant"
        if r.p_holm is not None:
            verdict += " (p_Holm < 0.001)" if r.p_holm < 0.001 else f" (p_Holm {r.p_holm:.3f})"
        sentence = (f"{name} across {k} data sets: {points(p.delta)} points [{points(p.ci95[0])}, "
                    f"{points(p.ci95[1])}], {verdict}; wins {p.wins} / ties {p.ties} / losses {p.losses}.")
        if k == 2:
            sentence += " With 2 data sets the pooled interval is wide (t with 1 df): read it with the per-data-set results."
        if p.heterogeneous:
            sentence += (f" The data sets disagree (I² {100 * (p.i2 or 0):.0f}%, τ {100 * (p.tau or 0):.1f} points): "
                         f"the pooled difference hides that; see the forest plot.")
        out.append(sentence)
    return out


def rank_lines(table: AcrossTable) -> list[str]:
    """The Friedman tests (6+ data sets, 3+ entries) as sentences."""
    out = []
    for t in table.ranks:
        ranks = ", ".join(f"{label} {rank:.2f}" for label, rank in zip(t.labels, t.mean_ranks))
        out.append(f"{t.model}: Friedman over {len(table.datasets)} data sets, p {t.p_value:.3g}; mean ranks "
                   f"(1 = best): {ranks}; pairwise Wilcoxon signed-rank tests, Holm-corrected.")
    return out


def rows_for_json(rows: Sequence[AcrossRow]) -> list[dict]:
    """across.json's rows: identity, per-data-set figures and the pooled record, as plain values."""
    from dataclasses import asdict

    out = []
    for r in rows:
        out.append({"model": r.row.entry.model, "backbone": _label(r), "is_reference": r.is_reference,
                    "reference": r.row.comparison.reference,
                    "datasets": {d.dataset: {"map50_95": None if d.map50_95 is None else asdict(d.map50_95),
                                             "delta": d.comparison.delta, "delta_ci95": d.comparison.delta_ci95,
                                             "p_value": d.comparison.p_value} for d in r.per_dataset},
                    "pooled": None if r.pooled is None else asdict(r.pooled), "p_holm": r.p_holm,
                    "significant": r.significant, "reason": r.reason})
    return out
