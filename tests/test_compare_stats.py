"""experiments.stats: t-intervals against scipy, Holm against a hand computation, seeds for 80% power against
the textbook two-sample values, and the paired bootstrap against eval.bootstrap on synthetic COCO results."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from yololab.eval.bootstrap import ImageMatches, bootstrap_map
from yololab.experiments import stats


def test_t_interval_matches_scipy():
    values = [0.312, 0.325, 0.301, 0.318]
    expected = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    assert stats.t_interval(values) == pytest.approx(expected, abs=1e-12)
    assert stats.t_interval([0.3, 0.5]) == pytest.approx(sps.t.interval(0.95, 1, loc=0.4, scale=sps.sem([0.3, 0.5])))
    assert stats.t_interval([0.3]) is None


def test_holm_by_hand():
    # sorted: 0.01*4 = 0.04, 0.03*3 = 0.09, 0.04*2 = 0.08 -> 0.09 (monotone), 0.2*1 = 0.2
    assert stats.holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert stats.holm([0.5, None, 0.6]) == [pytest.approx(1.0), None, pytest.approx(1.0)]  # capped at 1
    assert stats.holm([]) == []


# -- paired bootstrap on synthetic COCO results --------------------------------------------------------
def make_gt(n_images: int = 40, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "width": 200, "height": 200, "file_name": f"{i}.jpg"})
        for _ in range(int(rng.integers(1, 4))):
            x, y, w, h = (float(v) for v in (*rng.uniform(0, 120, 2), *rng.uniform(20, 70, 2)))
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(rng.integers(0, 2)),
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    categories = [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def make_dt(gt: dict, quality: float, seed: int) -> list[dict]:
    """Each box found with probability ``quality``, jittered less the better; plus false positives."""
    rng = np.random.default_rng(seed)
    out = []
    for a in gt["annotations"]:
        if rng.random() < quality:
            x, y, w, h = a["bbox"]
            j = (1.2 - quality) * 0.25
            box = [x + rng.normal(0, j * w), y + rng.normal(0, j * h), w * (1 + rng.normal(0, j)),
                   h * (1 + rng.normal(0, j))]
            out.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": box,
                        "score": float(np.clip(quality + rng.normal(0, 0.2), 0.01, 1))})
    for im in gt["images"]:
        for _ in range(int(rng.integers(0, 3))):
            out.append({"image_id": im["id"], "category_id": int(rng.integers(0, 2)),
                        "bbox": [*rng.uniform(0, 150, 2).tolist(), 30.0, 30.0], "score": float(rng.uniform(0, 0.6))})
    return out


@pytest.fixture(scope="module")
def gt():
    return make_gt()


def _replicates(gt, dts, n, seed):
    rng = np.random.default_rng(seed)
    matches = [ImageMatches.from_coco(gt, dt) for dt in dts]
    weights = stats.image_weights(matches[0].num_images, n, rng)
    return [m.map(weights)["map50_95"] for m in matches], rng


def test_one_seed_gets_the_test_set_interval_and_no_test(gt):
    """One seed: the interval is eval.bootstrap's image-bootstrap interval (same resamples), p is None."""
    good, bad = make_dt(gt, 0.9, 1), make_dt(gt, 0.5, 2)
    (rg, rb), _ = _replicates(gt, [good, bad], 300, seed=7)
    result = stats.paired_test([rg], [rb])
    reference = bootstrap_map(gt, good, bad, n=300, seed=7)  # same seed -> the same image resamples
    assert result.delta == pytest.approx(reference["delta_map50_95"], abs=1e-12)
    assert list(result.ci95) == pytest.approx(reference["delta_map50_95_ci95"], abs=1e-12)
    assert result.p_value is None and not result.tested and result.interval == "test set"
    assert result.seed_sd is None and result.image_sd > 0 and result.delta > 0.1


def test_identical_cells_give_zero_delta_and_no_test(gt):
    dt = make_dt(gt, 0.7, 3)
    (ra, rb), _ = _replicates(gt, [dt, dt], 200, seed=0)
    result = stats.paired_test([ra, ra], [rb, rb])
    assert result.delta == 0 and result.ci95 == (0.0, 0.0) and result.p_value is None


def test_paired_test_by_hand():
    """Two variance components: var(d)/k over seeds plus the image-bootstrap variance of the mean
    difference, conservative Welch-Satterthwaite df, Student-t p and interval."""
    rng = np.random.default_rng(0)
    k, b = 3, 400
    shared = rng.normal(0, 0.004, b)  # the same image resamples move every seed's difference alike
    ref = [np.concatenate([[0.30], 0.30 + rng.normal(0, 0.001, b)]) for _ in range(k)]
    d = np.array([0.012, 0.020, 0.007])
    cand = [r + np.concatenate([[dk], dk + shared]) for r, dk in zip(ref, d)]
    result = stats.paired_test(cand, ref, n_images=500)
    boot = (np.stack(cand) - np.stack(ref))[:, 1:].mean(0)
    a, v = d.var(ddof=1) / k, boot.var(ddof=1)
    a_up = a * (k - 1) / sps.chi2.ppf(stats.DF_BOUND_QUANTILE, k - 1)
    image_df = 1 / (1 / 499 + 1 / 399)  # 500 images, 400 resamples
    df = (a_up + v) ** 2 / (a_up ** 2 / (k - 1) + v ** 2 / image_df)
    se = np.sqrt(a + v)
    assert result.delta == pytest.approx(d.mean()) and result.df == pytest.approx(df)
    assert result.p_value == pytest.approx(2 * sps.t.sf(d.mean() / se, df))
    half = sps.t.ppf(0.975, df) * se
    assert result.ci95 == pytest.approx((d.mean() - half, d.mean() + half))
    assert result.seed_sd == pytest.approx(d.std(ddof=1)) and result.image_sd == pytest.approx(np.sqrt(v))
    assert k - 1 <= result.df  # never fewer df than the seeds give


def test_paired_test_needs_matching_seeds():
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        stats.paired_test([np.zeros(5)], [])
    with pytest.raises(ValueError, match="full-set mAP then B >= 1"):
        stats.paired_test([np.zeros(1)], [np.zeros(1)])


def _exact_false_positive_rate(k: int, rho: float) -> float:
    """P(p < 0.05) under the null, by numerical integration: with the test-set variance known (ratio ``rho``
    to the seed variance of the mean), the only random part of the test besides the normal numerator is
    the chi-square seed variance."""
    from scipy import integrate

    def integrand(x: float) -> float:
        ratio = x / (k - 1)  # estimated / true seed variance of the mean
        df = stats.satterthwaite_df(ratio, rho, k, 1e9)
        crit = sps.t.ppf(0.975, df)
        return 2 * sps.norm.sf(crit * np.sqrt((ratio + rho) / (1 + rho))) * sps.chi2.pdf(x, k - 1)

    return integrate.quad(integrand, 0, np.inf, limit=200)[0]


@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_false_positive_rate_is_at_most_nominal_for_every_variance_ratio(k):
    """The worst case over the ratio of test-set to seed variance, exactly (no Monte-Carlo error)."""
    worst = max(_exact_false_positive_rate(k, rho) for rho in (0, 0.03, 0.1, 0.3, 1, 3, 10, 100))
    assert worst <= 0.0501


def test_seeds_needed_and_the_test_set_ceiling():
    # seed spread only: more seeds always help; the answer grows with the spread
    few, many = stats.seeds_needed(0.01, 0.005, 1e-6), stats.seeds_needed(0.01, 0.01, 1e-6)
    assert 2 <= few < many
    assert stats.paired_power(0.01, 0.01, 1e-6, many) >= 0.8 > stats.paired_power(0.01, 0.01, 1e-6, many - 1)
    # a test set whose own spread is 0.5 points: 1 point can never reach 80% power (ceiling ~52%)
    assert stats.power_ceiling(0.01, 0.005) < 0.8 and stats.seeds_needed(0.01, 0.001, 0.005) is None
    assert stats.seeds_needed(0.01, None, 0.001) is None  # one seed: unknown


def test_simulated_tables_are_calibrated():
    """A reduced calibration grid (benchmarks/calibration.py runs the full one): false positives at most
    5% + 3 Monte-Carlo SE and 95% intervals covering the truth at least 95% - 3 MC SE, for 2+ seeds and
    seed / test-set spread ratios 0.1, 1 and 10; with one seed no table is ever marked significant."""
    import math

    from yololab.experiments.stats.calibration import Scenario, run_scenario

    tables, se = 500, math.sqrt(0.05 * 0.95 / 500)
    for k in (1, 2, 3, 5):
        for ratio in (0.1, 1.0, 10.0):
            s_seed, s_img = 0.3 * math.sqrt(ratio), 0.3 / math.sqrt(ratio)
            aa = run_scenario(Scenario(k, s_seed, s_img, 100, 200, 0.0), tables, seed=17 * k)
            if k == 1:
                assert aa.significant == 0 and aa.tested == 0
                continue
            ab = run_scenario(Scenario(k, s_seed, s_img, 100, 200, 1.0), tables, seed=19 * k)
            assert aa.significant <= 0.05 + 3 * se, (k, ratio, aa)
            assert min(aa.coverage, ab.coverage) >= 0.95 - 3 * se, (k, ratio, aa, ab)
    strong = run_scenario(Scenario(5, 0.3, 0.1, 100, 200, 1.0), 200, seed=3)  # 1 point vs ~0.2-point noise
    assert strong.significant > 0.9
