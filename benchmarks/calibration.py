"""Calibration of the comparison table's test (``yololab.experiments.stats.paired.paired_test``) by simulation.

Draws A/A tables (two entries with the same true mAP) and A/B tables (a true difference of 1 point) over
a grid of seeds (1, 2, 3, 5, 10), ratios of seed spread to test-set spread (0.1, 1, 10) and scoring-set
sizes (100 and 5,000 images), builds their replicate rows exactly as the table does (full-set score, then
B paired image resamples) and prints, per row, the false-positive rate (A/A), the power to detect 1
point (A/B) and the coverage of the 95% interval, each with its Monte-Carlo standard error.  See
``yololab.experiments.stats.calibration`` for the model of a table.

    python benchmarks/calibration.py [--tables 1000] [--resamples 1000] [--json out.json]
    python benchmarks/calibration.py --seed-sd 0.2 --image-sd 0.3 --images 128   # one measured setting
"""

from __future__ import annotations

import argparse
import json
import math
import time

from yololab.experiments.stats.calibration import Rates, Scenario, run_scenario

NOMINAL = 0.05


def verdict(aa: Rates, ab: Rates) -> str:
    """'ok' when false positives <= 5% + 3 MC SE and both coverages >= 95% - 3 MC SE (2+ seeds)."""
    if aa.scenario.seeds < 2:
        return "no test (one seed)"
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
    args = p.parse_args(argv)

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


if __name__ == "__main__":
    raise SystemExit(main())
