"""Summary rows: one :class:`SummaryRow` per (model, backbone entry) over its finished seeds (mean, std, n).

The comparison against the reference and the intervals are ``summary.summarise``'s job.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from yololab.experiments.report.robustness_stats import robustness_summary
from yololab.experiments.results.latency_backends import BACKENDS
from yololab.eval.results import ClassAP
from yololab.experiments.results.records import (Accuracy, CellResult, Cost, Estimate, LatencySummary, SummaryRow,
                                         metric_names)

#: the cost figures averaged over seeds (the neck and head sizes are the same for every entry of a model)
AVERAGED_COST = ("params", "backbone_params", "adapter_params", "gflops", "train_seconds", "images_per_second",
                 "peak_memory_mb", "epochs_run")


def _numbers(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def estimate(values: Iterable[Any]) -> Estimate | None:
    """Mean and sample std (n - 1; None for one value) of the finite numbers in ``values``."""
    x = _numbers(values)
    if not x:
        return None
    return Estimate(statistics.fmean(x), statistics.stdev(x) if len(x) > 1 else None)


def _latency(members: Sequence[CellResult]) -> dict[str, LatencySummary]:
    out = {}
    for b in BACKENDS:
        figures = [m.latency[b.name] for m in members if b.name in m.latency]
        summary = LatencySummary(estimate(f.median_ms for f in figures), estimate(f.fps for f in figures),
                                 next((f.unreliable for f in figures if f.unreliable), None))  # one shaky: all
        if summary != LatencySummary():
            out[b.name] = summary
    return out


def _per_class(members: Sequence[CellResult]) -> dict[str, ClassAP]:
    """Per-class AP50-95 and AP50 averaged over seeds (class order of the first member)."""
    names: list[str] = []
    for m in members:
        names += [n for n in m.accuracy.per_class if n not in names]
    out = {}
    for name in names:
        entries = [m.accuracy.per_class[name] for m in members if name in m.accuracy.per_class]
        mean = {key: (e.mean if (e := estimate(getattr(c, key) for c in entries)) else None)
                for key in ("ap50_95", "ap50")}
        instances = next((c.instances for c in entries if c.instances is not None), None)  # one split for all seeds
        out[name] = ClassAP(mean["ap50_95"], mean["ap50"], instances)
    return out


def summary_row(members: Sequence[CellResult]) -> SummaryRow:
    """The summary of one entry's finished cells (its seeds)."""
    first = members[0]
    accuracy = Accuracy(**{k: estimate(getattr(m.accuracy, k) for m in members) for k in metric_names(Accuracy)},
                        per_class=_per_class(members))
    cost = Cost(**{k: estimate(getattr(m.cost, k) for m in members) for k in AVERAGED_COST})
    splits = {m.provenance.score_split for m in members}
    return SummaryRow(entry=first.entry, seeds=tuple(m.seed for m in members), eval_imgsz=first.provenance.eval_imgsz,
                      score_split=splits.pop() if len(splits) == 1 else "mixed",
                      tuning=first.tuning,  # one study per entry: the same for all seeds
                      accuracy=accuracy, cost=cost, latency=_latency(members),
                      robustness=robustness_summary(members))


def aggregate_rows(rows: Sequence[CellResult]) -> list[SummaryRow]:
    """One summary row per (model, backbone entry) over its finished cells, in table order."""
    groups: dict[tuple[str, str], list[CellResult]] = {}
    for row in rows:
        if row.done:
            groups.setdefault((row.entry.model, row.entry.label), []).append(row)
    return [summary_row(members) for members in groups.values()]

