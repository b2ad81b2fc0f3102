"""Statistics of a comparison table: t-intervals over seeds, Holm correction, the paired comparison
test of a difference in mAP and the seeds it needs for a given power.

A difference between two rows varies for two reasons: the training seeds (seed k of both rows share
data order and augmentation) and the finite scoring set (both rows are scored on the same images).
:func:`paired_test` combines both: a Student-t test over the seed-paired differences with the image
bootstrap's variance of the mean difference added (Welch-Satterthwaite degrees of freedom).  One image
weight matrix serves every cell of a table (:func:`image_weights`), so each cell's detections are
matched by COCO once and every comparison only re-weights rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from yololab.eval.bootstrap import percentile_ci, resample_weights

ALPHA = 0.05


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Student-t interval of the mean of ``values`` (None for fewer than two values)."""
    x = np.asarray([v for v in values if v is not None], np.float64)
    if len(x) < 2:
        return None
    mean, sem = float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))
    half = float(sps.t.ppf(0.5 + confidence / 2, len(x) - 1)) * sem
    return mean - half, mean + half


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (step-down, kept monotone, capped at 1); None stays None."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    m, running = len(present), 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


@dataclass(frozen=True)
class PairedTest:
    """A difference (candidate - reference) in mAP50-95: estimate, 95% interval, p and variance components.

    ``p_value`` is None when no test is meaningful (one seed, or no spread at all): the interval is then
    the test-set interval alone (``interval == "test set"``), which says nothing about seed-to-seed
    variance.  ``seed_sd`` is the spread over seeds of the per-seed paired difference (None for one
    seed); ``image_sd`` the standard error of the seed-mean difference over image resamples (the
    test-set spread).  Fractions of mAP, like every mAP field (0.01 = 1 point).
    """

    delta: float
    ci95: tuple[float, float]
    p_value: float | None
    n_seeds: int
    resamples: int
    seed_sd: float | None
    image_sd: float
    df: float | None
    interval: str           # "seeds and test set" | "test set"
    method: str

    @property
    def tested(self) -> bool:
        return self.p_value is not None


METHOD = ("paired t-test over seeds with the image-bootstrap variance of the mean difference added "
          "(two variance components, conservative Welch-Satterthwaite df)")
METHOD_REF = "Welch 1947; Satterthwaite 1946; variance components as in Bouthillier et al. 2021"


def image_weights(n_images: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n, n_images) image multiplicities: row 0 all ones (the point estimate), then ``n`` bootstrap
    resamples.  Score every cell of a table on the same matrix: that pairs their replicates."""
    return np.vstack([np.ones((1, n_images), np.int32), resample_weights(n_images, n, rng)])


def _as_matrix(rows: Sequence[np.ndarray], side: str) -> np.ndarray:
    try:
        m = np.stack([np.asarray(r, np.float64) for r in rows])
    except ValueError as e:
        raise ValueError(f"{side}: every replicate row must have the same length (1 + B): {e}") from None
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"{side}: each row must be the full-set mAP then B >= 1 image-resample mAPs, "
                         f"got shape {m.shape}")
    return m


#: The seed variance enters the degrees of freedom at its one-sided upper confidence bound at this level.
#: Plain Welch-Satterthwaite, fed the estimated seed variance, grows the df exactly when that estimate
#: is small by chance, which is when |t| is large: 12.7% false positives with 2 seeds at a test-set /
#: seed variance ratio of 0.1.  At 0.2 the worst case over every ratio is 4.8% (2 seeds), 5.0% (3+),
#: by numerical integration (tests/test_compare_stats.py) and simulation (benchmarks/calibration.py).
DF_BOUND_QUANTILE = 0.2


def satterthwaite_df(seed_var_of_mean: float, image_var: float, n_seeds: int, image_df: float) -> float:
    """Conservative Welch-Satterthwaite degrees of freedom of ``seed_var/k + image_var``.

    ``seed_var_of_mean`` (k - 1 df) is raised to its upper confidence bound at
    :data:`DF_BOUND_QUANTILE` before the usual formula; ``image_var`` has ``image_df``.  Only the
    reference distribution changes: the standard error uses the estimates themselves.
    """
    seed = seed_var_of_mean * (n_seeds - 1) / float(sps.chi2.ppf(DF_BOUND_QUANTILE, n_seeds - 1))
    total = seed + image_var
    denom = seed ** 2 / (n_seeds - 1) + image_var ** 2 / image_df
    return float(total ** 2 / denom) if denom > 0 else math.inf


def image_variance_df(n_images: int | None, resamples: int) -> float:
    """Degrees of freedom of the image-bootstrap variance: it varies with the ``n_images`` scored (n - 1
    df) and with the ``resamples`` drawn (B - 1 df); relative variances add, so 1/df = 1/(n-1) + 1/(B-1).
    Without ``n_images`` the scoring set is taken as large (B - 1)."""
    inverse = 1.0 / max(resamples - 1, 1) + (1.0 / max(n_images - 1, 1) if n_images else 0.0)
    return 1.0 / inverse


def paired_test(candidate: Sequence[np.ndarray], reference: Sequence[np.ndarray], seed: int = 0, *,
                n_images: int | None = None, confidence: float = 0.95) -> PairedTest:
    """Paired comparison of two table rows from their per-seed replicate rows.

    ``candidate[k]`` and ``reference[k]`` come from the same seed k; each row is the full-set mAP, then
    B paired image-resample mAPs (the same resamples in every row).  With d_k the per-seed full-set
    difference, the estimate is mean(d); its variance is var(d)/k (seed to seed, k - 1 df) plus the
    variance over image resamples of the seed-mean difference (the finite test set,
    :func:`image_variance_df`), combined with Welch-Satterthwaite degrees of freedom and a Student-t
    reference distribution.  The percentile bootstrap over 2-5 seeds this replaces claimed
    significance 9-35% of the time between equal entries (issue 16); ``benchmarks/calibration.py``
    measures this test.  With one seed no test is made: the interval is the test-set (image
    bootstrap percentile) interval and ``p_value`` is None.  ``seed`` is accepted for the table's
    call convention; the test itself draws nothing.
    """
    del seed  # deterministic: no resampling beyond the replicate rows given
    if len(candidate) != len(reference) or not len(candidate):
        raise ValueError(f"need the same, non-zero number of seeds on both sides, got {len(candidate)} "
                         f"and {len(reference)}")
    cand, ref = _as_matrix(candidate, "candidate"), _as_matrix(reference, "reference")
    if cand.shape != ref.shape:
        raise ValueError(f"candidate and reference replicate rows differ in shape: {cand.shape} vs {ref.shape}")
    diff = cand - ref
    k, b = diff.shape[0], diff.shape[1] - 1
    d = diff[:, 0]
    if not np.isfinite(d).all():
        raise ValueError("a full-set mAP is undefined (NaN): no objects in the scoring split?")
    delta = float(d.mean())
    boot = diff[:, 1:].mean(0)
    boot = boot[np.isfinite(boot)]
    if boot.size < 2:
        raise ValueError("fewer than two defined image resamples (no ground truth in the resamples?)")
    image_var = float(boot.var(ddof=1))
    image_sd = math.sqrt(image_var)
    if k == 1:
        lo, hi = percentile_ci(boot)
        return PairedTest(delta, (lo, hi), None, 1, b, None, image_sd, None, "test set",
                          "one seed: image-bootstrap percentile interval of the test set only, no test")
    seed_var = float(d.var(ddof=1))
    se = math.sqrt(seed_var / k + image_var)
    if se == 0 or not math.isfinite(se):
        return PairedTest(delta, (delta, delta), None, k, b, math.sqrt(seed_var), image_sd, None,
                          "seeds and test set", "no spread over seeds or images: no test")
    image_df = image_variance_df(n_images, b)
    df = satterthwaite_df(seed_var / k, image_var, k, image_df)
    half = float(sps.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * sps.t.sf(abs(delta) / se, df))
    return PairedTest(delta, (delta - half, delta + half), min(1.0, p), k, b, math.sqrt(seed_var), image_sd, df,
                      "seeds and test set", METHOD)


SAME_MODEL_METHOD = ("one checkpoint scored two ways on the same images: paired image bootstrap, t on its standard "
                     "error (df from the images and resamples)")


def same_model_test(candidate: np.ndarray, reference: np.ndarray, *, n_images: int | None = None,
                    confidence: float = 0.95) -> PairedTest:
    """One seed's checkpoint scored two ways (sliced and whole image) on the same images: no training
    variance enters the difference, so the test set's is all there is. ``candidate`` and ``reference``
    are the full-set mAP then B paired image-resample mAPs; the estimate is the full-set difference, its
    standard error the bootstrap's, with :func:`image_variance_df` degrees of freedom."""
    cand, ref = _as_matrix([candidate], "candidate"), _as_matrix([reference], "reference")
    if cand.shape != ref.shape:
        raise ValueError(f"candidate and reference replicate rows differ in shape: {cand.shape} vs {ref.shape}")
    diff = (cand - ref)[0]
    delta, boot = float(diff[0]), diff[1:][np.isfinite(diff[1:])]
    if not math.isfinite(delta) or boot.size < 2:
        raise ValueError("the full-set mAP or too many image resamples are undefined (no ground truth?)")
    se = float(boot.std(ddof=1))
    if se == 0:
        return PairedTest(delta, (delta, delta), None, 1, int(boot.size), None, 0.0, None, "test set",
                          "no spread over images: no test")
    df = image_variance_df(n_images, int(boot.size))
    half = float(sps.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * sps.t.sf(abs(delta) / se, df))
    return PairedTest(delta, (delta - half, delta + half), min(1.0, p), 1, int(boot.size), None, se, df, "test set",
                      SAME_MODEL_METHOD)


def paired_power(delta: float, seed_sd: float, image_sd: float, n_seeds: int, alpha: float = ALPHA,
                 image_df: float = 1e6) -> float:
    """Power of :func:`paired_test` to detect a true ``delta`` with ``n_seeds`` seeds (noncentral t,
    Welch-Satterthwaite df), given the seed spread of the paired difference and the test-set spread."""
    a, v = seed_sd ** 2 / n_seeds, image_sd ** 2
    se = math.sqrt(a + v)
    if se == 0:
        return 1.0
    df = satterthwaite_df(a, v, n_seeds, image_df)
    crit = float(sps.t.ppf(1 - alpha / 2, df))
    ncp = delta / se
    return float(sps.nct.sf(crit, df, ncp) + sps.nct.cdf(-crit, df, ncp))


def power_ceiling(delta: float, image_sd: float, alpha: float = ALPHA) -> float:
    """Power with infinitely many seeds: only the test-set spread is left (normal test)."""
    if image_sd <= 0:
        return 1.0
    z, ncp = float(sps.norm.ppf(1 - alpha / 2)), delta / image_sd
    return float(sps.norm.sf(z - ncp) + sps.norm.cdf(-z - ncp))


def seeds_needed(delta: float, seed_sd: float | None, image_sd: float, power: float = 0.8,
                 alpha: float = ALPHA, max_n: int = 1000) -> int | None:
    """Smallest number of paired seeds (>= 2) for which :func:`paired_test` detects ``delta`` with
    ``power``, given both variance components; None when unknown (no seed spread yet) or when more
    than ``max_n`` seeds would be needed (see :func:`power_ceiling`: the test set may rule it out)."""
    if seed_sd is None or not math.isfinite(seed_sd) or delta <= 0:
        return None
    if power_ceiling(delta, image_sd, alpha) < power:
        return None
    n = 2
    while paired_power(delta, seed_sd, image_sd, n, alpha) < power:
        n = n * 2 if n < 64 else n + max(1, n // 8)
        if n > max_n:
            return None
    lo = max(2, n // 2)
    while lo < n:
        mid = (lo + n) // 2
        if paired_power(delta, seed_sd, image_sd, mid, alpha) >= power:
            n = mid
        else:
            lo = mid + 1
    return n


def image_interval(replicates: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """Percentile 95% interval of the seed-mean mAP over the image resamples alone (one-seed rows)."""
    rows = np.stack(replicates)[:, 1:].mean(0)
    if not np.isfinite(rows).any():
        return None
    lo, hi = percentile_ci(rows)
    return lo, hi
