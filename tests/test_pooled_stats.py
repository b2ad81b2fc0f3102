"""pooled_test: one entry against its reference over several data sets (random effects, modified
Hartung-Knapp), checked by its arithmetic and, as a product claim, by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yololab.experiments.stats import PairedTest, pooled_test
from yololab.experiments.stats.calibration import PooledScenario, run_pooled_scenario
from yololab.experiments.stats.pooled import standard_error


def _test(delta: float, se: float, n_seeds: int = 3) -> PairedTest:
    """A per-data-set result whose standard error is ``se`` (all of it from the seeds)."""
    seed_sd = se * math.sqrt(n_seeds)
    half = 2.0 * se
    return PairedTest(delta, (delta - half, delta + half), 0.5, n_seeds, 200, seed_sd, 0.0, 4.0,
                      "seeds and test set", "test")


def test_one_data_set_is_its_own_result():
    t = _test(0.012, 0.003)
    pooled = pooled_test([t])
    assert (pooled.delta, pooled.ci95, pooled.p_value) == (t.delta, t.ci95, t.p_value)
    assert pooled.tau is None and pooled.prediction_interval is None and "one data set" in pooled.reason


def test_agreeing_data_sets_pool_to_the_weighted_mean():
    tests = [_test(0.010, 0.002), _test(0.010, 0.004), _test(0.010, 0.003)]
    pooled = pooled_test(tests)
    assert pooled.delta == pytest.approx(0.010)
    assert pooled.tau == pytest.approx(0.0, abs=1e-9) and pooled.i2 == 0.0
    # scale kept at 1: the fixed-effect standard error, t with k - 1 = 2 df
    se = 1 / math.sqrt(sum(1 / standard_error(t) ** 2 for t in tests))
    assert pooled.ci95[1] - pooled.delta == pytest.approx(4.302653 * se, rel=1e-5)
    assert pooled.significant and (pooled.wins, pooled.ties, pooled.losses) == (3, 0, 0)
    assert pooled.prediction_interval is not None and not pooled.heterogeneous


def test_disagreeing_data_sets_widen_the_interval_and_warn():
    tests = [_test(0.03, 0.002), _test(-0.02, 0.002), _test(0.01, 0.002), _test(0.0, 0.002)]
    pooled = pooled_test(tests)
    assert pooled.tau > 0.01 and pooled.i2 > 0.9 and pooled.heterogeneous
    assert not pooled.significant
    lo, hi = pooled.prediction_interval
    assert lo < pooled.ci95[0] and hi > pooled.ci95[1]
    assert (pooled.wins, pooled.ties, pooled.losses) == (2, 1, 1)


def test_a_one_seed_data_set_gives_no_pooled_test():
    one_seed = PairedTest(0.01, (0.0, 0.02), None, 1, 200, None, 0.005, None, "test set", "one seed")
    pooled = pooled_test([_test(0.01, 0.003), one_seed])
    assert pooled.p_value is None and "one seed" in pooled.reason


def test_no_data_set_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        pooled_test([])


# The product claim: with 2-10 data sets, per-data-set variances estimated from 2-3 seeds and any
# between-data-set spread, false positives stay <= 5% + 3 MC SE and coverage >= 95% - 3 MC SE.
REDUCED_GRID = [PooledScenario(2, 1.0, seeds=2), PooledScenario(3, 0.0, seeds=2),
                PooledScenario(5, 1.0, seeds=3), PooledScenario(10, 5.0, seeds=2)]


@pytest.mark.parametrize("scenario", REDUCED_GRID, ids=lambda s: f"{s.datasets}sets-tau{s.tau_ratio:g}-{s.seeds}seeds")
def test_pooled_test_is_calibrated_by_simulation(scenario):
    tables = 400
    rates = run_pooled_scenario(scenario, tables, seed=scenario.datasets)
    se = math.sqrt(0.05 * 0.95 / tables)
    assert rates.significant <= 0.05 + 3 * se, rates
    assert rates.coverage >= 0.95 - 3 * se, rates


def test_pooled_test_has_power_with_ten_data_sets():
    rates = run_pooled_scenario(PooledScenario(10, 1.0, delta=1.0, seeds=3), 200, seed=3)
    assert rates.significant > 0.8, rates
    assert np.isfinite(rates.coverage) and rates.coverage >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / 200)
