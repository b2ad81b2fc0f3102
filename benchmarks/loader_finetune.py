"""Fine-tune with the new training loader vs the old one: the project's own paired test over seeds.

    python benchmarks/loader_finetune.py [--epochs 2] [--imgsz 320] [--seeds 0 1 2] [--out runs/loader_finetune]

upstream's yolov5n.pt fine-tuned on coco128 train2017 and scored on val2017 (``../shared`` beside the
checkout), ``--epochs`` epochs at ``--imgsz``, batch 16, once per seed with each loader:

- old: ``mosaic_impl: canvas`` (upstream's resize -> 2x canvas -> warp), ``cache: none``;
- new: ``mosaic_impl: warp`` (one composed warp per tile, DCT-scaled decode), ``cache: auto``.

The loader settings are shared by every cell of a ``yololab compare`` experiment (``train:`` and
``cache:``; an entry may only change its backbone settings and ``hyp``), so each loader is one
experiment of one entry x the seeds, in ``--out``/old and ``--out``/new, otherwise identical.  Seed k
of both is a pair.  The paired test is :func:`yololab.experiments.stats.paired.paired_test` fed the way the
comparison table feeds it (``experiments/summary.py``): every cell's saved per-image COCO matches
re-weighted by one image-bootstrap weight matrix (row 0 the full set), so the test has both variance
components, seeds and the scoring images.  Re-running with the same ``--out`` skips finished cells.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from yololab.experiments.results.records import CellResult

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COCO128 = SHARED / "data" / "coco128"
WEIGHTS = SHARED / "weights" / "yolov5n.pt"
WAYS = {"old": {"cache": "none", "mosaic_impl": "canvas"}, "new": {"cache": "auto", "mosaic_impl": "warp"}}


def experiment(way: str, args: argparse.Namespace) -> dict:
    return {
        "name": f"loader-finetune-{way}", "data": str(COCO128 / "data.yaml"), "models": ["yolov5n"],
        "backbones": ["native"], "seeds": list(args.seeds), "epochs": args.epochs, "imgsz": args.imgsz,
        "batch": args.batch, "workers": args.workers, "cache": WAYS[way]["cache"], "score_split": "val",
        "latency_backends": ["torch"], "bootstrap": args.resamples,
        "train": {"weights": str(WEIGHTS), "mosaic_impl": WAYS[way]["mosaic_impl"], "plots": False},
    }


def cell_rows(result, seeds) -> dict[int, CellResult]:
    rows = {r.seed: r for r in result.rows if r.done}
    missing = sorted(set(seeds) - set(rows))
    if missing:
        raise SystemExit(f"cells not done for seeds {missing}: {[str(r.status) for r in result.rows]}")
    return rows


def replicates(out: Path, rows: dict[int, CellResult], weights_for) -> dict[int, np.ndarray]:
    """seed -> (1 + B,) mAP50-95 of the cell's saved matches under the shared image weights."""
    from yololab.eval.bootstrap import ImageMatches

    reps = {}
    for seed, row in rows.items():
        matches = ImageMatches.load(out / row.cell_dir / (row.provenance.matches_file
                                                          or f"matches_{row.score_split}.npz"))
        reps[seed] = matches.map(weights_for(matches))["map50_95"]
        if abs(reps[seed][0] - row.accuracy.map50_95) > 1e-9:
            raise SystemExit(f"seed {seed}: saved matches give mAP50-95 {reps[seed][0]:.6f}, the cell "
                             f"reported {row.accuracy.map50_95:.6f}")
    return reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--resamples", type=int, default=1000, help="image-bootstrap resamples of the paired test")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "loader_finetune")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    for need in (COCO128 / "data.yaml", WEIGHTS):
        if not need.is_file():
            raise SystemExit(f"missing {need} (../shared beside the checkout)")
    out = args.out.resolve()
    # the new loader's cache starts empty, in the output folder (not a user cache another run may share)
    os.environ["XDG_CACHE_HOME"] = str(out / "xdg_cache")

    from yololab.experiments import stats
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import spec_from_mapping

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() else ""
    started = datetime.now(timezone.utc)
    print(f"coco128 train2017 -> val2017, yolov5n.pt, {args.epochs} epoch(s) at {args.imgsz}, batch {args.batch}, "
          f"{args.workers} loader workers, seeds {args.seeds}; {os.cpu_count()} CPUs ({cpu}), "
          f"load average {os.getloadavg()[0]:.2f}; start {started:%Y-%m-%d %H:%M} UTC", flush=True)
    results, walls = {}, {}
    for way, loader in WAYS.items():
        t0 = time.perf_counter()
        results[way] = run_compare(spec_from_mapping(experiment(way, args)), out / way,
                                   RunSettings(bench=False, report=False, progress=False))
        walls[way] = time.perf_counter() - t0
        print(f"{way}: {loader} done in {walls[way]:.0f} s, load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = {way: cell_rows(results[way], args.seeds) for way in WAYS}

    # one weight matrix for every cell (what pairs the replicates), as the comparison table does
    rng = np.random.default_rng(0)
    shared: dict = {}

    def weights_for(matches):
        if "w" not in shared:
            shared["ids"] = matches.image_ids
            shared["w"] = stats.image_weights(matches.num_images, args.resamples, rng)
        elif not np.array_equal(matches.image_ids, shared["ids"]):
            raise SystemExit("the cells were scored on different images")
        return shared["w"]

    reps = {way: replicates(out / way, rows[way], weights_for) for way in WAYS}
    seeds = sorted(args.seeds)
    test = stats.paired_test([reps["new"][s] for s in seeds], [reps["old"][s] for s in seeds],
                             n_images=int(shared["w"].shape[1]))
    finished = datetime.now(timezone.utc)
    print(f"\nmAP50-95 on val2017 ({shared['w'].shape[1]} images) after {args.epochs} epochs; "
          f"finished {finished:%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}")
    print(f"{'seed':>4}  {'old (canvas, no cache)':>22}  {'new (warp, cache auto)':>22}  {'new - old':>9}")
    for s in seeds:
        o, n = rows["old"][s].accuracy.map50_95, rows["new"][s].accuracy.map50_95
        print(f"{s:>4}  {o:>22.4f}  {n:>22.4f}  {n - o:>+9.4f}")
    mo = float(np.mean([rows["old"][s].accuracy.map50_95 for s in seeds]))
    mn = float(np.mean([rows["new"][s].accuracy.map50_95 for s in seeds]))
    print(f"{'mean':>4}  {mo:>22.4f}  {mn:>22.4f}  {mn - mo:>+9.4f}")
    p = "n/a (no test)" if test.p_value is None else f"{test.p_value:.3f}"
    seed_sd = "n/a" if test.seed_sd is None else f"{test.seed_sd:.4f}"
    df = "n/a" if test.df is None else f"{test.df:.1f}"
    print(f"paired test new vs old (stats.paired_test, {test.n_seeds} seeds, {test.resamples} image resamples): "
          f"delta {test.delta:+.4f}, 95% CI [{test.ci95[0]:+.4f}, {test.ci95[1]:+.4f}] ({test.interval}), "
          f"p = {p}; seed sd of the difference {seed_sd}, test-set sd {test.image_sd:.4f}, df {df}")
    print(f"method: {test.method}")
    if args.json:
        args.json.write_text(json.dumps({
            "started_utc": started.isoformat(), "finished_utc": finished.isoformat(), "cpu": cpu,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "wall_s": walls, "map50_95": {w: {s: rows[w][s].accuracy.map50_95 for s in seeds} for w in WAYS},
            "paired_test": {"delta": test.delta, "ci95": list(test.ci95), "p_value": test.p_value,
                            "n_seeds": test.n_seeds, "seed_sd": test.seed_sd, "image_sd": test.image_sd,
                            "df": test.df, "interval": test.interval, "method": test.method},
        }, indent=2))


if __name__ == "__main__":
    sys.exit(main())
