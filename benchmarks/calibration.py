"""Calibration of the comparison table's test (``yololab.experiments.stats.paired.paired_test``) by simulation.

Draws A/A tables (two entries with the same true mAP) and A/B tables (a true difference of 1 point) over
a grid of seeds (1, 2, 3, 5, 10), ratios of seed spread to test-set spread (0.1, 1, 10) and scoring-set
sizes (100 and 5,000 images), builds their replicate rows exactly as the table does (full-set score, then
B paired image resamples) and prints, per row, the false-positive rate (A/A), the power to detect 1
point (A/B) and the coverage of the 95% interval, each with its Monte-Carlo standard error.  See
``yololab.experiments.stats.calibration`` for the model of a table.

    python benchmarks/calibration.py [--tables 1000] [--resamples 1000] [--json out.json]
    python benchmarks/calibration.py --seed-sd 0.2 --image-sd 0.3 --images 128   # one measured setting
    python benchmarks/calibration.py --datasets 2,3,5,10 [--tables 1000]   # the data-set level (pooled_test)

The data-set level simulates comparisons over 2-10 data sets, each a table as above, whose true
differences spread around the pooled difference with sd 0, 1x and 5x the within-data-set standard
error, and prints false positives, coverage and power of ``stats.pooled.pooled_test`` beside two
textbook alternatives it was chosen over (plain Hartung-Knapp, DerSimonian-Laird with a normal reference).
"""

from __future__ import annotations

import argparse
import json
import math
import time

from yololab.experiments.stats.calibration import (
    PooledRates,
    Rates,
    Scenario,
    pooled_grid,
    run_pooled_scenario,
    run_scenario,
)
from yololab.experiments.stats.paired import ALPHA

NOMINAL = 0.05


def verdict(aa: Rates, ab: Rates) -> str:
    """'ok' when false positives <= 5% + 3 MC SE and both coverages >= 95% - 3 MC SE (2+ seeds)."""
    if aa.scenario.seeds < 2:
        return "no test (one seed)"
    return calibrated(aa, ab)


def calibrated(aa: Rates, ab: Rates) -> str:
    """'ok' when false positives <= 5% + 3 MC SE and both coverages >= 95% - 3 MC SE."""
    se = math.sqrt(NOMINAL * (1 - NOMINAL) / aa.tables)
    ok = aa.significant <= NOMINAL + 3 * se and min(aa.coverage, ab.coverage) >= 1 - NOMINAL - 3 * se
    return "ok" if ok else "MISCALIBRATED"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", type=int, default=1000, help="simulated tables per grid row")
    p.add_argument("--resamples", type=int, default=1000, help="image resamples per table (the table's default)")
    p.add_argument("--seeds", default="1,2,3,5,10")
    p.add_argument("--ratios", default="0.1,1,10", help="seed spread / test-set spread")
    p.add_argument("--images", default="100,5000")
    p.add_argument("--spread", type=float, default=0.3, help="geometric mean of the two spreads (points)")
    p.add_argument("--seed-sd", type=float, default=None, help="one setting instead of the grid: seed sd (points)")
    p.add_argument("--image-sd", type=float, default=None, help="with --seed-sd: test-set sd of the difference")
    p.add_argument("--json", default=None, help="write every row here")
    p.add_argument("--datasets", default=None, help="the data-set level instead: numbers of data sets, e.g. 2,3,5,10")
    p.add_argument("--tau-ratios", default="0,1,5", help="data-set level: between / within data-set spread")
    p.add_argument("--pooled-seeds", default="2,3", help="data-set level: seeds per data set")
    p.add_argument("--same-model", action="store_true",
                   help="instead: stats.same_model_test (one checkpoint scored two ways, e.g. sliced vs whole)")
    p.add_argument("--mpc", type=int, default=None, metavar="CORRUPTIONS",
                   help="instead: the Δ mPC test over this many corrupted scoring sets (one shared image resample)")
    args = p.parse_args(argv)
    if args.datasets:
        return pooled_main(args)
    if args.same_model or args.mpc:
        return new_tests_main(args)

    seeds = [int(s) for s in args.seeds.split(",")]
    images = [int(s) for s in args.images.split(",")]
    if args.seed_sd is not None:
        ratio_grid = [(args.seed_sd, args.image_sd if args.image_sd is not None else args.seed_sd)]
    else:
        ratio_grid = [(args.spread * math.sqrt(r), args.spread / math.sqrt(r))
                      for r in (float(x) for x in args.ratios.split(","))]
    started = time.perf_counter()
    print(f"{'seeds':>5} {'s_seed':>7} {'s_img':>7} {'images':>7} | {'false pos. (A/A)':>17} "
          f"{'coverage A/A':>15} | {'power 1 pt':>15} {'coverage A/B':>15} | verdict")
    rows = []
    for n in images:
        for s_seed, s_img in ratio_grid:
            for k in seeds:
                aa = run_scenario(Scenario(k, s_seed, s_img, n, args.resamples, 0.0), args.tables, seed=k * 7 + n)
                ab = run_scenario(Scenario(k, s_seed, s_img, n, args.resamples, 1.0), args.tables, seed=k * 11 + n)
                v = verdict(aa, ab)
                print(f"{k:>5} {s_seed:>7.3f} {s_img:>7.3f} {n:>7} | {100 * aa.significant:>8.1f}% ± {100 * aa.significant_se:3.1f} "
                      f"{100 * aa.coverage:>8.1f}% ± {100 * aa.coverage_se:3.1f} | "
                      f"{100 * ab.significant:>8.1f}% ± {100 * ab.significant_se:3.1f} "
                      f"{100 * ab.coverage:>8.1f}% ± {100 * ab.coverage_se:3.1f} | {v}", flush=True)
                rows.append({"aa": aa.as_dict(), "ab": ab.as_dict(), "verdict": v})
    seconds = time.perf_counter() - started
    bad = [r for r in rows if r["verdict"] == "MISCALIBRATED"]
    print(f"{len(rows)} grid rows x 2 x {args.tables} tables in {seconds:.0f} s; "
          f"{'all 2+-seed rows within 5% + 3 MC SE (false positives) and 95% - 3 MC SE (coverage)' if not bad else f'{len(bad)} rows MISCALIBRATED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tables": args.tables, "resamples": args.resamples, "rows": rows, "seconds": seconds}, f, indent=1)
    return 1 if bad else 0


def new_tests_main(args) -> int:
    """False positives, coverage and power of the same-checkpoint test or of Δ mPC, over images x spreads."""
    from yololab.experiments.stats import same_model_test
    from yololab.experiments.stats.calibration import run_mpc_scenario

    def same_model(cand, ref, seed, n_images):  # one row each: the full-set mAP, then the resamples
        return same_model_test(cand[0], ref[0], n_images=n_images)

    images = [int(s) for s in args.images.split(",")]
    spreads = [args.spread * float(r) for r in args.ratios.split(",")]
    seeds = [1] if args.same_model else [int(s) for s in args.seeds.split(",")]
    name = "same_model_test (1 seed, no seed spread)" if args.same_model else f"Δ mPC over {args.mpc} corruptions"
    print(name)
    print(f"{'seeds':>5} {'s_img':>7} {'images':>7} | {'false pos.':>13} {'coverage':>13} | {'power 1 pt':>13} | verdict")
    started, bad = time.perf_counter(), 0
    for n in images:
        for s_img in spreads:
            for k in seeds:
                s_seed = 0.0 if args.same_model else args.spread
                rates = []
                for delta, seed in ((0.0, k * 7 + n), (1.0, k * 11 + n)):
                    sc = Scenario(k, s_seed, s_img, n, args.resamples, delta)
                    rates.append(run_scenario(sc, args.tables, seed=seed, test=same_model) if args.same_model
                                 else run_mpc_scenario(sc, args.mpc, args.tables, seed=seed))
                aa, ab = rates
                v = calibrated(aa, ab)
                bad += v == "MISCALIBRATED"
                print(f"{k:>5} {s_img:>7.3f} {n:>7} | {100 * aa.significant:>6.1f}% ± {100 * aa.significant_se:3.1f} "
                      f"{100 * aa.coverage:>6.1f}% ± {100 * aa.coverage_se:3.1f} | "
                      f"{100 * ab.significant:>6.1f}% ± {100 * ab.significant_se:3.1f} | {v}", flush=True)
    print(f"{time.perf_counter() - started:.0f} s; "
          f"{'every row within 5% + 3 MC SE (false positives) and 95% - 3 MC SE (coverage)' if not bad else f'{bad} rows MISCALIBRATED'}")
    return 1 if bad else 0


def _alternative(method: str):
    """A textbook pooled test the calibrated one was chosen over, for the printed comparison."""
    from types import SimpleNamespace

    import numpy as np
    from scipy import stats as sps

    from yololab.experiments.stats.pooled import standard_error

    def pool(tests):
        y = np.array([t.delta for t in tests])
        v = np.array([standard_error(t) ** 2 for t in tests])
        k, w = len(y), 1 / v
        mu0 = float((w * y).sum() / w.sum())
        q = float((w * (y - mu0) ** 2).sum())
        tau2 = max(0.0, (q - (k - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))  # DerSimonian-Laird
        w = 1 / (v + tau2)
        mu = float((w * y).sum() / w.sum())
        if method == "DL-normal":
            se, crit, p = math.sqrt(1 / w.sum()), 1.959964, 2 * sps.norm.sf(abs(mu) * math.sqrt(w.sum()))
        else:  # plain Hartung-Knapp: scale from the data, may fall below 1
            scale = float((w * (y - mu) ** 2).sum() / (k - 1))
            se = math.sqrt(scale / w.sum())
            crit = float(sps.t.ppf(0.975, k - 1))
            p = float(2 * sps.t.sf(abs(mu) / se, k - 1)) if se > 0 else 0.0
        return SimpleNamespace(ci95=(mu - crit * se, mu + crit * se), p_value=p)
    return pool


def pooled_verdict(aa: PooledRates) -> str:
    se = math.sqrt(NOMINAL * (1 - NOMINAL) / aa.tables)
    return "ok" if aa.significant <= NOMINAL + 3 * se and aa.coverage >= 1 - NOMINAL - 3 * se else "MISCALIBRATED"


def pooled_main(args) -> int:
    """The data-set level: pooled_test (and two alternatives) over simulated multi-data-set comparisons."""
    datasets = [int(x) for x in args.datasets.split(",")]
    ratios = [float(x) for x in args.tau_ratios.split(",")]
    seeds = [int(x) for x in args.pooled_seeds.split(",")]
    started = time.perf_counter()
    print(f"{'sets':>4} {'tau/within':>10} {'seeds':>5} | {'pooled_test: false pos.':>23} {'coverage':>14} "
          f"{'power 1 pt':>14} | {'plain HK f.p.':>13} {'DL-normal f.p.':>14} | verdict")
    rows, bad = [], 0
    for m in datasets:
        for r in ratios:
            for k in seeds:
                aa_sc, ab_sc = (sc for sc in pooled_grid((m,), (r,), (0.0, 1.0), (k,)))
                seed = m * 1000 + int(r * 10) * 10 + k
                aa = run_pooled_scenario(aa_sc, args.tables, seed)
                ab = run_pooled_scenario(ab_sc, args.tables, seed + 1)
                hk = run_pooled_scenario(aa_sc, args.tables, seed, _alternative("HK"), "plain HK")
                dl = run_pooled_scenario(aa_sc, args.tables, seed, _alternative("DL-normal"), "DL-normal")
                v = pooled_verdict(aa)
                bad += v != "ok"
                print(f"{m:>4} {r:>10g} {k:>5} | {100 * aa.significant:>15.1f}% ± {100 * aa.significant_se:3.1f} "
                      f"{100 * aa.coverage:>7.1f}% ± {100 * aa.coverage_se:3.1f} "
                      f"{100 * ab.significant:>7.1f}% ± {100 * ab.significant_se:3.1f} | "
                      f"{100 * hk.significant:>12.1f}% {100 * dl.significant:>13.1f}% | {v}", flush=True)
                rows.append({"aa": aa.as_dict(), "ab": ab.as_dict(), "plain_hk": hk.as_dict(),
                             "dl_normal": dl.as_dict(), "verdict": v})
    seconds = time.perf_counter() - started
    print(f"{len(rows)} grid rows x 4 x {args.tables} simulated comparisons in {seconds:.0f} s (alpha {ALPHA}); "
          f"{'pooled_test within 5% + 3 MC SE (false positives) and 95% - 3 MC SE (coverage) on every row' if not bad else f'{bad} rows MISCALIBRATED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tables": args.tables, "rows": rows, "seconds": seconds}, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
