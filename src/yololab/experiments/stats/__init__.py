"""Statistics of a comparison: intervals over seeds, the calibrated paired test, Holm, and their simulation.

The functions live in ``paired`` (one data set) and ``pooled`` (several data sets) and are re-exported
here (``yololab.experiments.stats.paired_test``, ``...stats.pooled_test``); the simulation of their
error rates is ``calibration``.
"""

from yololab.experiments.stats.paired import (
    ALPHA,
    DF_BOUND_QUANTILE,
    METHOD,
    METHOD_REF,
    PairedTest,
    holm,
    image_interval,
    image_variance_df,
    image_weights,
    paired_power,
    paired_test,
    power_ceiling,
    same_model_test,
    satterthwaite_df,
    seeds_needed,
    t_interval,
)
from yololab.experiments.stats.pooled import PooledTest, pooled_test

__all__ = ["ALPHA", "DF_BOUND_QUANTILE", "METHOD", "METHOD_REF", "PairedTest", "holm", "image_interval",
           "image_variance_df", "image_weights", "paired_power", "paired_test", "power_ceiling", "same_model_test",
           "satterthwaite_df", "seeds_needed", "t_interval", "PooledTest", "pooled_test"]
