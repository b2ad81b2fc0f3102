"""Simulated comparison tables for measuring :func:`stats.paired_test`: false positives, coverage, power.

A table compares a candidate with a reference over ``k`` seeds on ``n`` scoring images.  Each image has a
true per-image difference between the two entries (sd chosen so that the scoring set's mean difference
has sd ``s_img``: the test-set effect, the same for every seed), each cell has a seed effect with sd
``s_seed``, and optionally each (seed, image) pair has its own noise (``s_int``, as a full-set sd).
Replicate rows are built exactly as the table builds them: the full-set mean, then B image resamples
drawn with replacement, the same resamples for every row.  The metric is the per-image mean (a stand-in
for mAP: what the test sees is the same shape of data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

from yololab.experiments import stats

POINT = 0.01  # one mAP point as a fraction


@dataclass(frozen=True)
class Scenario:
    """One grid row: seeds, spreads (points), scoring images, resamples and the true difference (points)."""

    seeds: int
    s_seed: float
    s_img: float
    images: int
    resamples: int = 1000
    delta: float = 0.0
    s_int: float = 0.0


@dataclass(frozen=True)
class Rates:
    """Monte-Carlo estimates over ``tables`` simulated tables, each with its standard error."""

    scenario: Scenario
    tables: int
    significant: float        # false positives when delta == 0, power otherwise
    significant_se: float
    coverage: float
    coverage_se: float
    tested: float             # share of tables where a test was made (0 with one seed)

    def as_dict(self) -> dict:
        return {**asdict(self.scenario), **{k: v for k, v in asdict(self).items() if k != "scenario"}}


def mc_se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` estimated from ``n`` independent tables."""
    return math.sqrt(max(p * (1 - p), 1e-12) / n)


def simulate_table(sc: Scenario, rng: np.random.Generator, weights: np.ndarray) -> tuple[list, list]:
    """Replicate rows (k, 1 + B) of the candidate and the reference for one simulated table."""
    n, k = sc.images, sc.seeds
    per_image_sd = sc.s_img * POINT * math.sqrt(n)
    base = rng.normal(0.4, 0.1, n)                                    # image difficulty, shared by both
    true_diff = rng.normal(0.0, per_image_sd, n)
    true_diff += sc.delta * POINT - true_diff.mean() + rng.normal(0.0, sc.s_img * POINT)  # population mean = delta
    ref_seed = rng.normal(0.0, sc.s_seed * POINT, (k, 1))
    cand_seed = rng.normal(0.0, sc.s_seed * POINT, (k, 1))
    if not sc.s_int:  # a seed shifts every image alike: resample the two image vectors once (linear metric)
        means = (weights @ np.stack([base + true_diff, base], 1) / n).T  # (2, 1 + B)
        return list(means[0] + cand_seed), list(means[1] + ref_seed)
    noise_sd = sc.s_int * POINT * math.sqrt(n)
    ref = base + ref_seed + rng.normal(0.0, noise_sd, (k, n))
    cand = base + true_diff + cand_seed + rng.normal(0.0, noise_sd, (k, n))
    scores = np.concatenate([cand, ref]) @ weights.T / n              # (2k, 1 + B)
    return list(scores[:k]), list(scores[k:])


def run_scenario(sc: Scenario, tables: int, seed: int = 0,
                 test: Callable = stats.paired_test) -> Rates:
    """False-positive rate (or power), interval coverage of the true difference, each with its MC SE."""
    rng = np.random.default_rng(seed)
    weights = None
    hits = covered = tested = 0
    for t in range(tables):
        if weights is None or t % 100 == 0:  # a fresh resample matrix every 100 tables (cost of 5,000 images)
            weights = stats.image_weights(sc.images, sc.resamples, rng).astype(np.float64)
        cand, ref = simulate_table(sc, rng, weights)
        result = test(cand, ref, seed=t, n_images=sc.images)
        lo, hi = result.ci95
        covered += lo <= sc.delta * POINT <= hi
        if result.p_value is not None:
            tested += 1
            hits += result.p_value < stats.ALPHA
    sig, cov = hits / tables, covered / tables
    return Rates(sc, tables, sig, mc_se(sig, tables), cov, mc_se(cov, tables), tested / tables)


def grid(seeds: Iterable[int] = (1, 2, 3, 5, 10), ratios: Iterable[float] = (0.1, 1.0, 10.0),
         images: Iterable[int] = (100, 5000), deltas: Iterable[float] = (0.0, 1.0), spread: float = 0.3,
         resamples: int = 1000) -> list[Scenario]:
    """Scenarios over seeds x (s_seed / s_img) x images x true difference; ``spread`` (points) is the
    geometric mean of the two sds, so ratio r gives s_seed = spread * sqrt(r), s_img = spread / sqrt(r)."""
    out = []
    for d in deltas:
        for n in images:
            for r in ratios:
                for k in seeds:
                    out.append(Scenario(k, spread * math.sqrt(r), spread / math.sqrt(r), n, resamples, d))
    return out


# -- the data-set level: pooled_test over several data sets -------------------------------------------------


@dataclass(frozen=True)
class PooledScenario:
    """One grid row of the data-set level: ``datasets`` data sets, each a table as :class:`Scenario`
    (seeds, spreads, images); their true differences spread with sd ``tau_ratio`` x the within-data-set
    standard error around the true pooled difference ``delta`` (points)."""

    datasets: int
    tau_ratio: float
    delta: float = 0.0
    seeds: int = 3
    s_seed: float = 0.3
    s_img: float = 0.3
    images: int = 100
    resamples: int = 200

    @property
    def within_se(self) -> float:
        """The standard error (points) of one data set's difference: seeds and test set."""
        return math.sqrt(self.s_seed ** 2 / self.seeds + self.s_img ** 2)


@dataclass(frozen=True)
class PooledRates:
    """Monte-Carlo estimates over ``tables`` simulated multi-data-set comparisons, with standard errors."""

    scenario: PooledScenario
    method: str
    tables: int
    significant: float
    significant_se: float
    coverage: float
    coverage_se: float

    def as_dict(self) -> dict:
        return {**asdict(self.scenario), **{k: v for k, v in asdict(self).items() if k != "scenario"}}


def simulate_pooled(sc: PooledScenario, rng: np.random.Generator, weights: np.ndarray) -> list:
    """The per-data-set :class:`~yololab.experiments.stats.paired.PairedTest` of one simulated comparison."""
    tau = sc.tau_ratio * sc.within_se
    tests = []
    for _ in range(sc.datasets):
        theta = sc.delta + rng.normal(0.0, tau) if tau else sc.delta
        table = Scenario(sc.seeds, sc.s_seed, sc.s_img, sc.images, sc.resamples, theta)
        cand, ref = simulate_table(table, rng, weights)
        tests.append(stats.paired_test(cand, ref, n_images=sc.images))
    return tests


def run_pooled_scenario(sc: PooledScenario, tables: int, seed: int = 0,
                        pool: Callable | None = None, method: str = "pooled_test") -> PooledRates:
    """False positives (or power) and coverage of the true pooled difference by ``pool`` (default
    :func:`~yololab.experiments.stats.pooled.pooled_test`) over ``tables`` simulated comparisons."""
    from yololab.experiments.stats.pooled import pooled_test

    pool = pool or pooled_test
    rng = np.random.default_rng(seed)
    weights = stats.image_weights(sc.images, sc.resamples, rng).astype(np.float64)
    hits = covered = 0
    for _ in range(tables):
        result = pool(simulate_pooled(sc, rng, weights))
        lo, hi = result.ci95
        covered += lo <= sc.delta * POINT <= hi
        hits += result.p_value is not None and result.p_value < stats.ALPHA
    sig, cov = hits / tables, covered / tables
    return PooledRates(sc, method, tables, sig, mc_se(sig, tables), cov, mc_se(cov, tables))


def pooled_grid(datasets: Iterable[int] = (2, 3, 5, 10), tau_ratios: Iterable[float] = (0.0, 1.0, 5.0),
                deltas: Iterable[float] = (0.0, 1.0), seeds: Iterable[int] = (2, 3, 5)) -> list[PooledScenario]:
    """The data-set level grid: data sets x between/within spread ratio x true difference x seeds."""
    return [PooledScenario(m, r, d, k) for d in deltas for m in datasets for r in tau_ratios for k in seeds]


def simulate_mpc_table(sc: Scenario, corruptions: int, rng: np.random.Generator, weights: np.ndarray,
                       shared: bool = True) -> tuple[list, list]:
    """Replicate rows of mPC (the mean over ``corruptions`` corrupted copies of the scoring set) for one
    table: each image's true difference is the same under every corruption (an image hard for one entry
    stays hard), each corruption shifts every image's difficulty, each seed shifts a cell. ``shared``: one
    image resample for every corruption (what the report does); False draws one per corruption."""
    n, k = sc.images, sc.seeds
    true_diff = rng.normal(0.0, sc.s_img * POINT * math.sqrt(n), n)
    true_diff += sc.delta * POINT - true_diff.mean() + rng.normal(0.0, sc.s_img * POINT)
    base = rng.normal(0.4, 0.1, n)
    rows = np.zeros((2, weights.shape[0]))
    for _ in range(corruptions):
        w = weights if shared else stats.image_weights(n, weights.shape[0] - 1, rng).astype(np.float64)
        shifted = base - rng.uniform(0.0, 0.2) + rng.normal(0.0, 0.05, n)  # this corruption's difficulty
        rows += (w @ np.stack([shifted + true_diff, shifted], 1) / n).T / corruptions
    cand = rows[0] + rng.normal(0.0, sc.s_seed * POINT, (k, 1))
    ref = rows[1] + rng.normal(0.0, sc.s_seed * POINT, (k, 1))
    return list(cand), list(ref)


def run_mpc_scenario(sc: Scenario, corruptions: int, tables: int, seed: int = 0, shared: bool = True) -> Rates:
    """:func:`run_scenario` for Δ mPC over ``corruptions`` corrupted scoring sets (:func:`simulate_mpc_table`)."""
    rng = np.random.default_rng(seed)
    weights = None
    hits = covered = tested = 0
    for t in range(tables):
        if weights is None or t % 100 == 0:
            weights = stats.image_weights(sc.images, sc.resamples, rng).astype(np.float64)
        cand, ref = simulate_mpc_table(sc, corruptions, rng, weights, shared)
        result = stats.paired_test(cand, ref, n_images=sc.images)
        covered += result.ci95[0] <= sc.delta * POINT <= result.ci95[1]
        if result.p_value is not None:
            tested += 1
            hits += result.p_value < stats.ALPHA
    sig, cov = hits / tables, covered / tables
    return Rates(sc, tables, sig, mc_se(sig, tables), cov, mc_se(cov, tables), tested / tables)
