"""Uncertainty and reference comparisons of the summary rows (report phase, deterministic seed).

Every summary row gets a 95% interval on its accuracy means (t over seeds with n >= 2, else the image
bootstrap for mAP50-95) and a :class:`Comparison` against its ``reference`` row of the same model: the
difference, its interval, p, Holm's p, significance and the variance components (seed to seed, the
scoring set) with the seeds needed for a 1-point difference, from
:func:`stats.paired_test` on the cells' saved detections (``cells/<id>/detections_<split>.json``) and
the shared ``scoring/gt_<split>.json``.  One-seed rows get the test-set interval and no test
(``significant`` None).  Rows without those files (made elsewhere) keep the plain difference of seed
means, no interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from yololab.experiments import stats
from yololab.experiments.plan.layout import scoring_gt_path
from yololab.experiments.report.robustness_stats import with_robustness
from yololab.experiments.results.records import SCORED_MAPS, CellResult, Comparison, SummaryRow
from yololab.experiments.results.table_facts import BootstrapInfo, IdenticalSeeds, TableFacts, VarianceComponents
from yololab.jsonfile import read_json_if_present

LOG = logging.getLogger("yololab")
POWER_DELTA = 0.01   # the difference the seed estimate is for: 1 mAP point
POWER = 0.8
Members = dict[int, CellResult]  # seed -> finished cell of one entry


def _key(row: SummaryRow | CellResult) -> tuple[str, str]:
    return row.entry.model, row.entry.label


def _members(cell_rows: Sequence[CellResult], key: tuple[str, str]) -> Members:
    return {r.seed: r for r in cell_rows if r.done and _key(r) == key}


def _reference_label(mean_rows: Sequence[SummaryRow], row: SummaryRow, members: Members) -> str | None:
    """The row's reference: what its cells say, else the model's native row, else its first row."""
    named = {m.reference for m in members.values() if m.reference}
    if len(named) == 1:
        return named.pop()
    same_model = [r for r in mean_rows if r.entry.model == row.entry.model]
    native = [r for r in same_model if r.entry.native]
    return (native or same_model)[0].entry.label if same_model else None


def _identical_seeds(members: Members) -> list[tuple[int, int]]:
    """Seed pairs whose scores (and saved detections, where known) are exactly the same."""
    pairs, seeds = [], sorted(members)
    for i, a in enumerate(seeds):
        for b in seeds[i + 1:]:
            ra, rb = members[a], members[b]
            same = (all(getattr(ra.accuracy, k) == getattr(rb.accuracy, k) for k in SCORED_MAPS)
                    and ra.accuracy.map50_95 is not None)
            da, db = ra.provenance.detections_sha256, rb.provenance.detections_sha256
            if same and (da is None or db is None or da == db):
                pairs.append((a, b))
    return pairs


def _load_replicates(out: Path | None, cell_rows: Sequence[CellResult], resamples: int,
                     rng: np.random.Generator) -> tuple[dict[str, np.ndarray], BootstrapInfo | None]:
    """cell_id -> (1 + B,) mAP50-95 replicates for every done cell with saved matches (or detections)."""
    if out is None:
        return {}, None
    done = [r for r in cell_rows if r.done and r.provenance.detections_file and r.cell_dir]
    splits = {r.score_split for r in done}
    if len(splits) != 1 or not done:
        if len(splits) > 1:
            LOG.warning("cells were scored on different splits %s: no paired bootstrap", sorted(map(str, splits)))
        return {}, None
    split = splits.pop()
    gt_path = scoring_gt_path(out, split)
    if not gt_path.is_file():
        LOG.warning("%s is missing: no paired test", gt_path)
        return {}, None
    gt_cache: dict[str, Any] = {}

    def gt() -> dict:  # read only for a folder whose cells have no saved matches yet
        if "gt" not in gt_cache:
            gt_cache["gt"] = read_json_if_present(gt_path)
        return gt_cache["gt"]
    replicates: dict[str, np.ndarray] = {}
    weights, first_ids = None, None
    for row in done:
        matches = _cell_matches(out / row.cell_dir, row, gt)
        if matches is None:
            continue
        if weights is None:
            first_ids = matches.image_ids
            weights = stats.image_weights(matches.num_images, resamples, rng)
        elif not np.array_equal(matches.image_ids, first_ids):
            raise ValueError(f"{row.cell_id} was scored on other images than the rest of the table")
        replicates[row.cell_id] = matches.map(weights)["map50_95"]
    if weights is None:
        return replicates, None
    return replicates, BootstrapInfo(str(split), int(weights.shape[1]), int(resamples))


def _cell_matches(folder: Path, row: CellResult, gt: Callable[[], dict]) -> Any:
    """The matches saved when the cell was scored; a folder from before they were saved is matched once
    here (pycocotools) and the file written, so later reports do no COCO matching."""
    from yololab.eval.bootstrap import ImageMatches

    saved = folder / (row.provenance.matches_file or f"matches_{row.score_split}.npz")
    if saved.is_file():
        return ImageMatches.load(saved)
    det_path = folder / row.provenance.detections_file
    detections = read_json_if_present(det_path) if det_path.is_file() else None
    if detections is None:
        LOG.warning("%s is missing: %s left out of the paired test", det_path, row.cell_id)
        return None
    LOG.info("%s: no saved matches (made by an older yololab): matching its detections once", row.cell_id)
    matches = ImageMatches.from_coco(gt(), detections)
    matches.save(saved, folder)
    return matches


def _with_intervals(row: SummaryRow, members: Members, replicates: dict[str, np.ndarray]) -> SummaryRow:
    """The row with each accuracy mean's 95% interval: t over seeds (n >= 2), else the image bootstrap."""
    accuracy, method = row.accuracy, None
    for key in SCORED_MAPS:
        values = [v for v in (getattr(m.accuracy, key) for m in members.values()) if isinstance(v, (int, float))]
        ci, mean = stats.t_interval(values), getattr(accuracy, key)
        if ci is not None and mean is not None:
            accuracy = replace(accuracy, **{key: replace(mean, ci95=ci)})
    if accuracy.map50_95 is not None and accuracy.map50_95.ci95 is not None:
        method = "t over seeds"
    reps = [replicates[members[s].cell_id] for s in sorted(members) if members[s].cell_id in replicates]
    if method is None and reps and len(reps) == len(members):
        interval = stats.image_interval(reps)
        if interval is not None and accuracy.map50_95 is not None:
            accuracy = replace(accuracy, map50_95=replace(accuracy.map50_95, ci95=interval))
            method = "test set (image bootstrap)"
    return replace(row, accuracy=accuracy, ci_method=method)


def summarise(out: Path | None, cell_rows: Sequence[CellResult], mean_rows: Sequence[SummaryRow],
              resamples: int = 1000, seed: int = 0) -> tuple[list[SummaryRow], TableFacts]:
    """New summary rows with their intervals and comparison vs reference (``mean_rows`` stay as they are),
    and the table-wide facts (bootstrap settings, comparisons, identical seeds, the seed power estimate)
    for captions."""
    rng = np.random.default_rng(seed)
    replicates, boot = _load_replicates(out, cell_rows, resamples, rng)
    groups = {_key(r): _members(cell_rows, _key(r)) for r in mean_rows}
    rows, identical = [], []
    for row in mean_rows:
        members = groups[_key(row)]
        row = _with_intervals(row, members, replicates)
        pairs = _identical_seeds(members)
        if pairs:
            identical.append(IdenticalSeeds(row.entry.model, row.entry.label, tuple(tuple(p) for p in pairs)))
        rows.append(replace(row, identical_seeds=tuple(pairs) or None,
                            comparison=Comparison(reference=_reference_label(mean_rows, row, members))))
    rows = [replace(r, comparison=_compare(r, groups, replicates, boot)) for r in rows]
    tested = [i for i, r in enumerate(rows) if r.comparison.p_value is not None]
    for i, p_holm in zip(tested, stats.holm([rows[i].comparison.p_value for i in tested])):
        rows[i] = replace(rows[i], comparison=replace(rows[i].comparison, p_holm=p_holm,
                                                      significant=bool(p_holm < stats.ALPHA)))
    rows = with_robustness(out, cell_rows, rows, resamples, seed)  # Δ mPC, its own Holm family
    facts = TableFacts(
        bootstrap=boot, bootstrap_seed=seed, alpha=stats.ALPHA, identical_seeds=tuple(identical),
        comparisons=len(tested),
        untested=sum(1 for r in rows if r.comparison.delta is not None and not r.comparison.is_reference
                     and r.comparison.p_value is None),
        n_seeds=max((r.n_seeds for r in rows), default=0), method=stats.METHOD, method_reference=stats.METHOD_REF,
        power_delta=POWER_DELTA, power=POWER, variance_components=tuple(
            VarianceComponents(r.entry.model, r.entry.label, r.comparison.reference, r.comparison.paired_seeds,
                               r.comparison.seed_sd, r.comparison.image_sd, r.comparison.seeds_needed,
                               r.comparison.more_seeds_cannot_help)
            for r in rows if r.comparison.image_sd is not None))
    return rows, facts


def _compare(row: SummaryRow, groups: dict[tuple[str, str], Members], replicates: dict[str, np.ndarray],
             boot: BootstrapInfo | None) -> Comparison:
    """The row's comparison with its reference (the plain difference of seed means where no test is possible)."""
    reference = row.comparison.reference
    base = Comparison(reference=reference, is_reference=reference == row.entry.label)
    ref = groups.get((row.entry.model, reference))
    if base.is_reference or not ref:
        return base
    mine = groups[_key(row)]
    seeds = [s for s in sorted(set(mine) & set(ref)) if isinstance(mine[s].accuracy.map50_95, (int, float))
             and isinstance(ref[s].accuracy.map50_95, (int, float))]
    if not seeds:
        return base
    base = replace(base, paired_seeds=len(seeds),
                   delta=float(np.mean([mine[s].accuracy.map50_95 - ref[s].accuracy.map50_95 for s in seeds])))
    ids = [(mine[s].cell_id, ref[s].cell_id) for s in seeds]
    if not all(a in replicates and b in replicates for a, b in ids):
        return replace(base, method="difference of seed means (no saved detections: no interval)")
    try:
        if len(ids) == 1 and _same_checkpoint(mine[seeds[0]], ref[seeds[0]]):  # the slicing ablation, one seed
            result = stats.same_model_test(replicates[ids[0][0]], replicates[ids[0][1]],
                                           n_images=boot.images if boot else None)
        else:
            result = stats.paired_test([replicates[a] for a, _ in ids], [replicates[b] for _, b in ids],
                                       n_images=boot.images if boot else None)
    except ValueError as err:  # e.g. no objects in the scoring split: say so in the row, keep the table
        LOG.warning("%s %s: no comparison test: %s", row.entry.model, row.entry.label, err)
        return replace(base, method=f"difference of seed means (no test: {err})")
    return replace(base, delta=result.delta, delta_ci95=tuple(result.ci95), ci_kind=result.interval,
                   p_value=result.p_value, df=result.df, seed_sd=result.seed_sd, image_sd=result.image_sd,
                   seeds_needed=stats.seeds_needed(POWER_DELTA, result.seed_sd, result.image_sd, POWER),
                   more_seeds_cannot_help=stats.power_ceiling(POWER_DELTA, result.image_sd) < POWER,
                   method=result.method)


def _same_checkpoint(a: CellResult, b: CellResult) -> bool:
    """Two rows of one cell's checkpoint scored two ways (``slicing: {ablation: true}``): sliced and whole."""
    return (a.cell_dir is not None and a.cell_dir == b.cell_dir and a.provenance.weights == b.provenance.weights
            and {a.provenance.scoring, b.provenance.scoring} == {"sliced", "whole image"})
