"""mPC and rPC of the summary rows (means over seeds with t intervals) and Δ mPC against the reference row
with the paired test of Δ mAP (:func:`stats.paired_test`).

A cell's mPC replicates come from its saved per-image matches under every corruption and severity
(``matches_<split>_<corruption>_s<severity>.npz``): ONE image-weight matrix is drawn for the table and
applied to every corrupted split of every cell, and a replicate's mPC is the mean of its mAPs over the
corruptions and severities. The resamples are thus shared across corruptions, severities and rows, as
the paired test needs; no COCO matching happens here.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from yololab.experiments import stats
from yololab.experiments.plan.layout import corrupted_matches
from yololab.experiments.results.records import (CellResult, Estimate, Robustness, RobustnessComparison,
                                                 SummaryRow)

LOG = logging.getLogger("yololab")
#: seeds the mPC image weights apart from the clean mAP's (the same table seed, another stream)
STREAM = 28


def robustness_summary(members: Sequence[CellResult]) -> Robustness[Estimate] | None:
    """mPC and rPC over an entry's seeds (mean, std, t interval) and its mean mAP per corruption and severity."""
    scored = [m.robustness for m in members if m.robustness is not None and m.robustness.mpc is not None]
    if not scored:
        return None

    def over_seeds(values: Sequence[float | None]) -> Estimate | None:
        x = [float(v) for v in values if v is not None]
        if not x:
            return None
        return Estimate(statistics.fmean(x), statistics.stdev(x) if len(x) > 1 else None, stats.t_interval(x))

    table: dict[str, dict[str, float]] = {}
    for r in scored:
        for name, row in r.corruption_ap.items():
            for severity in row:
                table.setdefault(name, {})[severity] = statistics.fmean(
                    [s.corruption_ap[name][severity] for s in scored if severity in s.corruption_ap.get(name, {})])
    return Robustness(mpc=over_seeds([r.mpc for r in scored]), rpc=over_seeds([r.rpc for r in scored]),
                      corruption_ap=table, corruption_seed=scored[0].corruption_seed)


def mpc_replicates(out: Path | None, cell_rows: Sequence[CellResult], resamples: int,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """cell_id -> (1 + B,) mPC replicates (row 0: the full scoring set) of every done cell with saved
    corrupted matches; one image resample matrix for every cell, corruption and severity."""
    from yololab.eval.bootstrap import ImageMatches

    done = [r for r in cell_rows if r.done and r.robustness is not None and r.cell_dir and r.score_split]
    if out is None or not done:
        return {}
    rng = np.random.default_rng([seed, STREAM])
    weights, first_ids, out_reps = None, None, {}
    for row in done:
        folder = Path(out) / row.cell_dir
        paths = [corrupted_matches(folder, row.score_split, name, int(severity))
                 for name, sevs in row.robustness.corruption_ap.items() for severity in sevs]
        missing = [p for p in paths if not p.is_file()]
        if missing or not paths:
            LOG.warning("%s is missing: %s left out of the Δ mPC test", missing[0] if missing else folder, row.cell_id)
            continue
        maps = []
        for path in paths:
            matches = ImageMatches.load(path)
            if weights is None:
                first_ids = matches.image_ids
                weights = stats.image_weights(matches.num_images, resamples, rng)
            elif not np.array_equal(matches.image_ids, first_ids):
                raise ValueError(f"{path} was scored on other images than the rest of the table")
            maps.append(matches.map(weights)["map50_95"])
        out_reps[row.cell_id] = np.mean(maps, axis=0)
    return out_reps


def with_robustness(out: Path | None, cell_rows: Sequence[CellResult], rows: Sequence[SummaryRow],
                    resamples: int = 1000, seed: int = 0) -> list[SummaryRow]:
    """``rows`` with their Δ mPC comparison (Holm over the Δ mPC tests); rows without mPC unchanged."""
    if not any(r.robustness is not None for r in rows):
        return list(rows)
    replicates = mpc_replicates(out, cell_rows, resamples, seed)
    n_images = next((r.provenance.num_score_images for r in cell_rows if r.done), None)
    members = {(r.entry.model, r.entry.label): {c.seed: c for c in cell_rows if c.done and c.robustness is not None
                                                  and (c.entry.model, c.entry.label) == (r.entry.model, r.entry.label)}
               for r in rows}
    out_rows = [replace(_one_seed_interval(r, members, replicates),
                        robustness_comparison=_compare(r, members, replicates, n_images)) for r in rows]
    tested = [i for i, r in enumerate(out_rows) if r.robustness_comparison and r.robustness_comparison.p_value is not None]
    for i, p_holm in zip(tested, stats.holm([out_rows[i].robustness_comparison.p_value for i in tested])):
        c = out_rows[i].robustness_comparison
        out_rows[i] = replace(out_rows[i], robustness_comparison=replace(
            c, p_holm=p_holm, significant=bool(p_holm < stats.ALPHA)))
    return out_rows


def _one_seed_interval(row: SummaryRow, members: Mapping[tuple[str, str], dict[int, CellResult]],
                       replicates: Mapping[str, np.ndarray]) -> SummaryRow:
    """A row whose mPC has no t interval (one seed) gets the test-set interval of its replicates, as mAP does."""
    rob = row.robustness
    if rob is None or rob.mpc is None or rob.mpc.ci95 is not None:
        return row
    cells = members.get((row.entry.model, row.entry.label), {})
    reps = [replicates[c.cell_id] for c in cells.values() if c.cell_id in replicates]
    if not reps or len(reps) != len(cells):
        return row
    interval = stats.image_interval(reps)
    return row if interval is None else replace(row, robustness=replace(rob, mpc=replace(rob.mpc, ci95=interval)))


def _compare(row: SummaryRow, members: Mapping[tuple[str, str], dict[int, CellResult]],
             replicates: Mapping[str, np.ndarray], n_images: int | None) -> RobustnessComparison | None:
    reference = row.comparison.reference
    if row.robustness is None or reference is None or row.comparison.is_reference:
        return None
    mine, ref = members.get((row.entry.model, row.entry.label), {}), members.get((row.entry.model, reference), {})
    seeds = sorted(set(mine) & set(ref))
    if not seeds:
        return None
    delta = float(np.mean([mine[s].robustness.mpc - ref[s].robustness.mpc for s in seeds]))
    base = RobustnessComparison(delta=delta, paired_seeds=len(seeds))
    ids = [(mine[s].cell_id, ref[s].cell_id) for s in seeds]
    if not all(a in replicates and b in replicates for a, b in ids):
        return replace(base, method="difference of seed means (no saved corrupted matches: no interval)")
    try:
        result = stats.paired_test([replicates[a] for a, _ in ids], [replicates[b] for _, b in ids],
                                   n_images=n_images)
    except ValueError as err:
        LOG.warning("%s %s: no Δ mPC test: %s", row.entry.model, row.entry.label, err)
        return replace(base, method=f"difference of seed means (no test: {err})")
    return replace(base, delta=result.delta, delta_ci95=tuple(result.ci95), ci_kind=result.interval,
                   p_value=result.p_value, seed_sd=result.seed_sd, image_sd=result.image_sd, df=result.df,
                   method=result.method)


def robustness_note(rows: Sequence[SummaryRow]) -> list[str]:
    """The table note on mPC, rPC and Δ mPC (none when no row was scored under corruptions)."""
    scored = [r.robustness for r in rows if r.robustness is not None and r.robustness.corruption_ap]
    if not scored:
        return []
    table = scored[0].corruption_ap
    severities = sorted({int(s) for v in table.values() for s in v})
    tested = sum(r.robustness_comparison is not None and r.robustness_comparison.p_value is not None for r in rows)
    return [f"mPC: mAP50-95 averaged over {len(table)} corruption(s) ({', '.join(table)}) x severities "
            f"{', '.join(map(str, severities))} (corruption seed {scored[0].corruption_seed}); rPC = mPC / clean "
            f"mAP50-95, the mean over seeds of each cell's. Δ mPC: the paired test of Δ mAP50-95 on image resamples "
            f"shared by every corruption and severity; Holm over its {tested} test(s)."]
