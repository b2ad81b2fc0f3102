"""The entries across data sets: each data set's table read back (results.json, no COCO work), each entry's
per-data-set paired test pooled against its reference, Holm across the pooled tests, and with 6+ data
sets and 3+ entries a Friedman test with Holm-corrected pairwise Wilcoxon tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yololab.experiments.across.spec import DatasetEntry
from yololab.experiments.results.records import Comparison, Estimate, SummaryRow
from yololab.experiments.results.records_io import read_results
from yololab.experiments.stats import ALPHA, PairedTest, PooledTest, holm, pooled_test


@dataclass(frozen=True)
class DatasetResult:
    """One entry on one data set: its mAP50-95 over seeds and its comparison with the reference there."""

    dataset: str
    map50_95: Estimate | None
    comparison: Comparison
    test: PairedTest | None          # None for the reference, or where no paired result exists


@dataclass(frozen=True)
class AcrossRow:
    """One table row across data sets: a model with one backbone entry, per data set and pooled."""

    row: SummaryRow                  # the entry's row on the first data set (identity, cost, latency)
    per_dataset: tuple[DatasetResult, ...]
    pooled: PooledTest | None        # None for the reference (or ``reason`` says why)
    p_holm: float | None = None      # Holm over the pooled tests of one model
    reason: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.row.comparison.is_reference

    @property
    def significant(self) -> bool | None:
        return None if self.p_holm is None else self.p_holm < ALPHA


@dataclass(frozen=True)
class RankTest:
    """Friedman over data sets (entries ranked within each), pairwise Wilcoxon tests with Holm."""

    model: str
    labels: tuple[str, ...]
    mean_ranks: tuple[float, ...]            # 1 = best
    statistic: float
    p_value: float
    pairwise_p_holm: tuple[tuple[float, ...], ...]   # labels x labels


@dataclass(frozen=True)
class AcrossTable:
    datasets: tuple[DatasetEntry, ...]
    rows: tuple[AcrossRow, ...]
    ranks: tuple[RankTest, ...] = ()


def results_path(out_dir: Path, dataset: DatasetEntry) -> Path:
    return out_dir / "datasets" / dataset.name / "results.json"


def paired_from_comparison(c: Comparison) -> PairedTest | None:
    """The per-data-set test as the table saved it (results.json keeps every field the pooling needs)."""
    if c.is_reference or c.delta is None or c.delta_ci95 is None or c.image_sd is None:
        return None
    return PairedTest(c.delta, tuple(c.delta_ci95), c.p_value, c.paired_seeds or 1, 0, c.seed_sd, c.image_sd,
                      c.df, c.ci_kind or "", c.method or "")


def _key(row: SummaryRow) -> tuple[str, str]:
    return row.entry.model, row.entry.label


def _pool(first: SummaryRow, results: tuple[DatasetResult, ...]) -> AcrossRow:
    if first.comparison.is_reference:
        return AcrossRow(first, results, None)
    missing = [r.dataset for r in results if r.test is None]
    if missing:
        return AcrossRow(first, results, None, reason=f"no paired result on {', '.join(missing)}")
    return AcrossRow(first, results, pooled_test([r.test for r in results]))


def _with_holm(rows: list[AcrossRow]) -> list[AcrossRow]:
    """Holm over the pooled p-values of each model's comparisons (as the per-data-set table does)."""
    out = list(rows)
    for model in dict.fromkeys(r.row.entry.model for r in rows):
        idx = [i for i, r in enumerate(rows) if r.row.entry.model == model and r.pooled is not None]
        adjusted = holm([rows[i].pooled.p_value for i in idx])
        for i, p in zip(idx, adjusted):
            out[i] = AcrossRow(rows[i].row, rows[i].per_dataset, rows[i].pooled, p, rows[i].reason)
    return out


def rank_test(model: str, labels: Sequence[str], scores: Sequence[Sequence[float]]) -> RankTest | None:
    """Friedman over ``scores`` (data sets x entries, higher is better) with pairwise Wilcoxon signed-rank
    tests Holm-corrected (scikit-posthocs); None below 6 data sets or 3 entries, where these tests cannot
    reach significance (an exact Wilcoxon over 5 data sets has minimum two-sided p 0.0625)."""
    if len(scores) < 6 or len(labels) < 3 or any(not math.isfinite(v) for s in scores for v in s):
        return None
    import numpy as np
    import scikit_posthocs as sp
    from scipy import stats as sps

    matrix = np.asarray(scores, np.float64)
    statistic, p = sps.friedmanchisquare(*matrix.T)
    ranks = sps.rankdata(-matrix, axis=1).mean(0)
    pairwise = sp.posthoc_wilcoxon(matrix.T.tolist(), p_adjust="holm", zero_method="zsplit").to_numpy()
    return RankTest(model, tuple(labels), tuple(float(r) for r in ranks), float(statistic), float(p),
                    tuple(tuple(float(v) for v in row) for row in pairwise))


def pool_datasets(datasets: Sequence[DatasetEntry], out_dir: str | Path) -> AcrossTable:
    """Read each data set's results.json and pool every entry across them (in the first data set's row order)."""
    out_dir = Path(out_dir)
    tables: list[dict[tuple[str, str], SummaryRow]] = []
    for ds in datasets:
        path = results_path(out_dir, ds)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: data set {ds.name!r} has no results yet (run the comparison)")
        tables.append({_key(r): r for r in read_results(path).summaries})
    rows = []
    for key, first in tables[0].items():
        results = tuple(DatasetResult(ds.name, t[key].accuracy.map50_95 if key in t else None,
                                      t[key].comparison if key in t else Comparison(),
                                      paired_from_comparison(t[key].comparison) if key in t else None)
                        for ds, t in zip(datasets, tables))
        rows.append(_pool(first, results))
    rows = _with_holm(rows)
    ranks = []
    for model in dict.fromkeys(r.row.entry.model for r in rows):
        mine = [r for r in rows if r.row.entry.model == model]
        scores = [[(r.per_dataset[i].map50_95.mean if r.per_dataset[i].map50_95 else math.nan) for r in mine]
                  for i in range(len(datasets))]
        test = rank_test(model, [r.row.entry.label for r in mine], scores)
        if test:
            ranks.append(test)
    return AcrossTable(tuple(datasets), tuple(rows), tuple(ranks))
