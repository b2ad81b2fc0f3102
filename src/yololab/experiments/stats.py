"""Statistics of a comparison table: t-intervals over seeds, Holm correction, seeds needed for a given
power, and the hierarchical paired bootstrap (seeds x scoring images) of a difference in mAP.

The bootstrap resamples both levels that make a result vary: the training seeds (paired by seed,
the same draw for both cells) and the scoring images (the same images for both cells).  One image
weight matrix serves every cell of a table (:func:`image_replicates`), so each cell's detections
are matched by COCO once and every comparison only re-weights rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from yololab.eval.bootstrap import bootstrap_p_value, percentile_ci, resample_weights

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


def pooled_std(groups: Sequence[Sequence[float]]) -> tuple[float | None, int]:
    """Pooled sample std of several groups (each weighted by its n - 1) and the pooled degrees of freedom."""
    ss, df = 0.0, 0
    for g in groups:
        x = np.asarray(g, np.float64)
        if len(x) >= 2:
            ss += float(((x - x.mean()) ** 2).sum())
            df += len(x) - 1
    return (math.sqrt(ss / df) if df else None), df


def two_sample_power(n: int, delta: float, std: float, alpha: float = ALPHA) -> float:
    """Power of a two-sided two-sample t-test with ``n`` runs per arm (noncentral t)."""
    df = 2 * n - 2
    ncp = delta / (std * math.sqrt(2.0 / n))
    crit = sps.t.ppf(1 - alpha / 2, df)
    return float(sps.nct.sf(crit, df, ncp) + sps.nct.cdf(-crit, df, ncp))


def seeds_for_power(delta: float, std: float, power: float = 0.8, alpha: float = ALPHA,
                    max_n: int = 100_000) -> int | None:
    """Smallest seeds per arm for which a two-sample t-test detects ``delta`` with ``power``.

    Two-sample, not paired: a seed shared by two backbones gives them the same data order but not
    the same initialisation, so no correlation between them is assumed (conservative).
    None when ``std`` is zero or unknown (nothing to estimate from) or more than ``max_n`` are needed.
    """
    if not std or std <= 0 or not math.isfinite(std) or delta <= 0:
        return None
    n = 2
    while two_sample_power(n, delta, std, alpha) < power:
        n = n * 2 if n < 64 else n + max(1, n // 8)
        if n > max_n:
            return None
    lo = max(2, n // 2)
    while lo < n:  # the smallest n with enough power (power grows with n)
        mid = (lo + n) // 2
        if two_sample_power(mid, delta, std, alpha) >= power:
            n = mid
        else:
            lo = mid + 1
    return n


@dataclass(frozen=True)
class PairedResult:
    """A difference (candidate - reference) in mAP50-95 with its bootstrap interval and p-value."""

    delta: float
    ci95: tuple[float, float]
    p_value: float
    n_seeds: int       # paired seeds used
    n_images: int
    resamples: int


def image_weights(n_images: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n, n_images) image multiplicities: row 0 all ones (the point estimate), then ``n`` bootstrap
    resamples.  Score every cell of a table on the same matrix: that pairs their replicates."""
    return np.vstack([np.ones((1, n_images), np.int32), resample_weights(n_images, n, rng)])


def paired_bootstrap(candidate: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                     rng: np.random.Generator, n_images: int) -> PairedResult:
    """Hierarchical paired bootstrap from per-seed replicate rows (seed k of both lists = the same seed).

    Each array is (1 + B,): the full-image mAP, then B image resamples shared by every array.  In
    replicate b the seeds are drawn with replacement (one draw for both cells) and each cell's mAP is
    the mean over the drawn seeds at image resample b.  With one seed this is the image bootstrap.
    p: two-sided, 2 min(P(d* <= 0), P(d* >= 0)) with the (count + 1) / (B + 1) convention, so never 0.
    """
    if len(candidate) != len(reference) or not candidate:
        raise ValueError(f"need the same, non-zero number of seeds on both sides, got {len(candidate)} "
                         f"and {len(reference)}")
    cand, ref = np.stack(candidate), np.stack(reference)  # (k, 1 + B)
    k, b = cand.shape[0], cand.shape[1] - 1
    if b < 1:
        raise ValueError("replicate rows hold no bootstrap resamples")
    diff = cand - ref
    point = float(diff[:, 0].mean())
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=b)  # (B, k) seeds drawn per replicate
    boot = (counts * diff[:, 1:].T).sum(1) / k
    boot = boot[np.isfinite(boot)]
    if not boot.size:
        raise ValueError("every bootstrap replicate was undefined (no ground truth in any resample?)")
    lo, hi = percentile_ci(boot)
    return PairedResult(point, (lo, hi), bootstrap_p_value(boot), k, n_images, b)


def image_interval(replicates: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """Percentile 95% interval of the seed-mean mAP over the image resamples alone (one-seed rows)."""
    rows = np.stack(replicates)[:, 1:].mean(0)
    if not np.isfinite(rows).any():
        return None
    lo, hi = percentile_ci(rows)
    return lo, hi
