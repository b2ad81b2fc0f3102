"""One backbone against its reference over several data sets: a random-effects meta-analysis of the
per-data-set paired tests, calibrated for 2-10 data sets.

Each data set gives a :class:`~yololab.experiments.stats.paired.PairedTest`: a difference in mAP and its
standard error (seeds and test set).  :func:`pooled_test` pools them with a random-effects model:
between-data-set variance ``tau^2`` by Paule-Mandel, inverse-variance weights ``1 / (se_i^2 + tau^2)``
(statsmodels' ``combine_effects``), and the Hartung-Knapp-Sidik-Jonkman interval with its scale never
below 1 (Roever, Knapp & Friede 2015; Jackson et al. 2017) and a Student-t reference with k - 1 df.

Why this variant: each data set's variance is itself estimated from a few seeds.  Plain Hartung-Knapp
then shrinks its scale below 1 exactly when the data sets agree by chance, and DerSimonian-Laird with a
normal reference ignores that tau^2 is estimated from k points; both claim too much with 2-10 data sets
(``benchmarks/calibration.py --datasets`` prints all three; tests/test_pooled_stats.py asserts this one).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from yololab.experiments.stats.paired import ALPHA, PairedTest

METHOD = ("random-effects meta-analysis over data sets: Paule-Mandel tau^2, Hartung-Knapp-Sidik-Jonkman "
          "interval with its scale kept >= 1, t with k - 1 df")
METHOD_REF = "Paule & Mandel 1982; Hartung & Knapp 2001; Sidik & Jonkman 2002; Roever, Knapp & Friede 2015"

#: I^2 at or above this (Higgins et al. 2003: "substantial") makes the headline warn that the pooled
#: difference hides how much the data sets disagree.
I2_WARN = 0.5


@dataclass(frozen=True)
class PooledTest:
    """A pooled difference (candidate - reference) in mAP50-95 over data sets, with its spread.

    ``ci95`` is the interval of the mean difference over data sets like these; ``prediction_interval``
    is where the difference on one new data set is expected to fall (None with fewer than 3 data sets).
    ``tau`` is the between-data-set spread (sd, fractions of mAP), ``i2`` the share of the spread of the
    per-data-set differences that is between data sets.  ``p_value`` is None when no test is made
    (``reason`` says why).  ``wins`` / ``ties`` / ``losses`` count the data sets whose own interval lies
    above 0 / covers 0 / lies below 0.
    """

    delta: float
    ci95: tuple[float, float]
    p_value: float | None
    tau: float | None
    i2: float | None
    prediction_interval: tuple[float, float] | None
    method: str
    n_datasets: int
    wins: int
    ties: int
    losses: int
    reason: str | None = None

    @property
    def tested(self) -> bool:
        return self.p_value is not None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    @property
    def heterogeneous(self) -> bool:
        """The data sets disagree enough that one pooled number misleads: I^2 >= 50%, or a
        between-data-set spread at least as large as the pooled difference itself (a new data set
        may well reverse its sign)."""
        if self.i2 is not None and self.i2 >= I2_WARN:
            return True
        return bool(self.tau) and self.tau >= abs(self.delta)


def standard_error(test: PairedTest) -> float | None:
    """The standard error of one data set's difference (seeds and test set); None with one seed."""
    if test.seed_sd is None or not test.tested:
        return None
    return math.sqrt(test.seed_sd ** 2 / test.n_seeds + test.image_sd ** 2)


def win_tie_loss(tests: Sequence[PairedTest]) -> tuple[int, int, int]:
    """Data sets whose 95% interval lies above 0, covers 0, lies below 0."""
    wins = sum(t.ci95[0] > 0 for t in tests)
    losses = sum(t.ci95[1] < 0 for t in tests)
    return wins, len(tests) - wins - losses, losses


def pooled_test(tests: Sequence[PairedTest], confidence: float = 0.95) -> PooledTest:
    """Pool one entry's per-data-set :class:`PairedTest` results against its reference (one per data set).

    One data set: its own result, unchanged.  A data set compared on one seed has no seed spread, so no
    pooled test is made (the estimate is still given, ``reason`` says why).
    """
    if not len(tests):
        raise ValueError("pooled_test needs at least one data set's PairedTest")
    wins, ties, losses = win_tie_loss(tests)
    k = len(tests)
    if k == 1:
        t = tests[0]
        return PooledTest(t.delta, t.ci95, t.p_value, None, None, None, f"one data set: {t.method}", 1,
                          wins, ties, losses, "one data set: the pooled result is that data set's test")
    y = np.array([t.delta for t in tests], np.float64)
    untested = [i for i, t in enumerate(tests) if standard_error(t) is None]
    if untested:
        one_seed = any(tests[i].n_seeds < 2 for i in untested)
        why = ("a data set was compared on one seed: its seed spread is unknown" if one_seed else
               f"data set {untested[0] + 1} has no test of its own ({tests[untested[0]].method})")
        return PooledTest(float(y.mean()), (float(y.min()), float(y.max())), None, None, None, None,
                          "unweighted mean; range of the data sets as the interval", k, wins, ties, losses,
                          f"{why}: no pooled test")
    ses = [standard_error(t) for t in tests]
    var = np.square(np.array(ses, np.float64))
    if not np.all(var > 0):
        return PooledTest(float(y.mean()), (float(y.min()), float(y.max())), None, None, None, None,
                          "unweighted mean; range of the data sets as the interval", k, wins, ties, losses,
                          "a data set has no spread over seeds or images: no pooled test")
    return _random_effects(y, var, confidence, wins, ties, losses)


def _random_effects(y: np.ndarray, var: np.ndarray, confidence: float, wins: int, ties: int,
                    losses: int) -> PooledTest:
    """Paule-Mandel random effects from statsmodels; the Hartung-Knapp scale kept >= 1 and t with k - 1 df."""
    from statsmodels.stats.meta_analysis import combine_effects

    k = len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels notes per-sample intervals use the normal: not used here
        res = combine_effects(y, var, method_re="pm")
    tau2 = max(float(res.tau2), 0.0)
    mu = float(res.mean_effect_re)
    se = math.sqrt(max(1.0, float(res.scale_hksj_re)) * float(res.var_eff_w_re))
    crit = float(sps.t.ppf(0.5 + confidence / 2, k - 1))
    p = float(2 * sps.t.sf(abs(mu) / se, k - 1))
    prediction = None
    if k >= 3:  # Higgins, Thompson & Spiegelhalter 2009: t with k - 2 df
        half = float(sps.t.ppf(0.5 + confidence / 2, k - 2)) * math.sqrt(tau2 + se ** 2)
        prediction = (mu - half, mu + half)
    return PooledTest(mu, (mu - crit * se, mu + crit * se), min(1.0, p), math.sqrt(tau2), max(0.0, float(res.i2)),
                      prediction, METHOD, k, wins, ties, losses)
