"""Uncertainty and reference comparisons of the summary rows (report phase, deterministic seed).

Every summary row gets ``map50_95_ci95`` (t over seeds with n >= 2, else the image bootstrap) and,
against its ``reference`` row of the same model, ``delta_map50_95``, ``delta_map50_95_ci95``,
``p_value``, ``p_holm``, ``significant`` and the variance components ``delta_seed_sd`` (seed to seed)
and ``delta_image_sd`` (the scoring set) with ``seeds_needed`` for a 1-point difference, from
:func:`stats.paired_test` on the cells' saved detections (``cells/<id>/detections_<split>.json``) and
the shared ``scoring/gt_<split>.json``.  One-seed rows get the test-set interval and no test
(``significant`` None).  Rows without those files (made elsewhere) keep the plain difference of seed
means, no interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yololab.experiments import stats
from yololab.jsonfile import read_json_if_present
from yololab.experiments.layout import scoring_gt_path
from yololab.experiments.metrics import ACCURACY_KEYS

LOG = logging.getLogger("yololab")
POWER_DELTA = 0.01   # the difference the seed estimate is for: 1 mAP point
POWER = 0.8


def _members(cell_rows: Sequence[dict], model: str, backbone: str) -> dict[int, dict]:
    return {r["seed"]: r for r in cell_rows
            if r.get("status") == "done" and r.get("model") == model and r.get("backbone") == backbone}


def _reference_label(mean_rows: Sequence[dict], row: dict, members: dict[int, dict]) -> str | None:
    """The row's reference: what its cells say, else the model's native row, else its first row."""
    named = {m.get("reference") for m in members.values() if m.get("reference")}
    if len(named) == 1:
        return named.pop()
    same_model = [r for r in mean_rows if r["model"] == row["model"]]
    native = [r for r in same_model if r.get("native")]
    return (native or same_model)[0]["backbone"] if same_model else None


def _identical_seeds(members: dict[int, dict]) -> list[list[int]]:
    """Seed pairs whose scores (and saved detections, where known) are exactly the same."""
    pairs, seeds = [], sorted(members)
    for i, a in enumerate(seeds):
        for b in seeds[i + 1:]:
            ra, rb = members[a], members[b]
            same = all(ra.get(k) == rb.get(k) for k in ACCURACY_KEYS) and ra.get("map50_95") is not None
            da, db = ra.get("detections_sha256"), rb.get("detections_sha256")
            if same and (da is None or db is None or da == db):
                pairs.append([a, b])
    return pairs


def _load_replicates(out: Path | None, cell_rows: Sequence[dict], resamples: int,
                     rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """cell_id -> (1 + B,) mAP50-95 replicates for every done cell with saved matches (or detections)."""
    info: dict[str, Any] = {}
    if out is None:
        return {}, info
    done = [r for r in cell_rows if r.get("status") == "done" and r.get("detections_file") and r.get("cell_dir")]
    splits = {r.get("score_split") for r in done}
    if len(splits) != 1 or not done:
        if len(splits) > 1:
            LOG.warning("cells were scored on different splits %s: no paired bootstrap", sorted(map(str, splits)))
        return {}, info
    split = splits.pop()
    gt_path = scoring_gt_path(out, split)
    if not gt_path.is_file():
        LOG.warning("%s is missing: no paired test", gt_path)
        return {}, info
    gt_cache: dict[str, Any] = {}

    def gt() -> dict:  # read only for a folder whose cells have no saved matches yet
        if "gt" not in gt_cache:
            gt_cache["gt"] = read_json_if_present(gt_path)
        return gt_cache["gt"]
    replicates: dict[str, np.ndarray] = {}
    weights, first_ids = None, None
    for row in done:
        matches = _cell_matches(out / row["cell_dir"], row, gt)
        if matches is None:
            continue
        if weights is None:
            first_ids = matches.image_ids
            weights = stats.image_weights(matches.num_images, resamples, rng)
        elif not np.array_equal(matches.image_ids, first_ids):
            raise ValueError(f"{row['cell_id']} was scored on other images than the rest of the table")
        replicates[row["cell_id"]] = matches.map(weights)["map50_95"]
    if weights is not None:
        info = {"split": split, "images": int(weights.shape[1]), "resamples": int(resamples)}
    return replicates, info


def _cell_matches(folder: Path, row: dict, gt: Callable[[], dict]) -> Any:
    """The matches saved when the cell was scored; a folder from before they were saved is matched once
    here (pycocotools) and the file written, so later reports do no COCO matching."""
    from yololab.eval.bootstrap import ImageMatches

    saved = folder / (row.get("matches_file") or f"matches_{row.get('score_split')}.npz")
    if saved.is_file():
        return ImageMatches.load(saved)
    det_path = folder / row["detections_file"]
    detections = read_json_if_present(det_path) if det_path.is_file() else None
    if detections is None:
        LOG.warning("%s is missing: %s left out of the paired test", det_path, row["cell_id"])
        return None
    LOG.info("%s: no saved matches (made by an older yololab): matching its detections once", row["cell_id"])
    matches = ImageMatches.from_coco(gt(), detections)
    matches.save(saved)
    return matches


def summarise(out: Path | None, cell_rows: Sequence[dict], mean_rows: list[dict], resamples: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """Add the uncertainty and comparison columns to ``mean_rows`` in place; return table-wide facts
    (bootstrap settings, comparisons, identical seeds, the seed power estimate) for captions."""
    rng = np.random.default_rng(seed)
    replicates, boot = _load_replicates(out, cell_rows, resamples, rng)
    facts: dict[str, Any] = {"bootstrap": boot or None, "bootstrap_seed": seed, "alpha": stats.ALPHA,
                             "identical_seeds": [], "comparisons": 0}
    groups = {(r["model"], r["backbone"]): _members(cell_rows, r["model"], r["backbone"]) for r in mean_rows}
    for row in mean_rows:
        members = groups[(row["model"], row["backbone"])]
        values = [members[s].get("map50_95") for s in sorted(members)]
        splits = {m.get("score_split") for m in members.values()}
        row["score_split"] = splits.pop() if len(splits) == 1 else "mixed"
        for key in ACCURACY_KEYS:
            ci = stats.t_interval([v for v in (m.get(key) for m in members.values()) if isinstance(v, (int, float))])
            if ci is not None:
                row[f"{key}_ci95"] = list(ci)
        row["map50_95_ci_method"] = "t over seeds" if row.get("map50_95_ci95") else None
        reps = [replicates[members[s]["cell_id"]] for s in sorted(members) if members[s]["cell_id"] in replicates]
        if not row.get("map50_95_ci95") and reps and len(reps) == len(values):
            interval = stats.image_interval(reps)
            if interval is not None:
                row["map50_95_ci95"], row["map50_95_ci_method"] = list(interval), "test set (image bootstrap)"
        pairs = _identical_seeds(members)
        row["identical_seeds"] = pairs or None
        if pairs:
            facts["identical_seeds"].append({"model": row["model"], "backbone": row["backbone"], "seeds": pairs})
        row["reference"] = _reference_label(mean_rows, row, members)
    for row in mean_rows:
        _compare(row, groups, replicates, boot)
    comparisons = [r for r in mean_rows if r.get("p_value") is not None]
    for row, p_holm in zip(comparisons, stats.holm([r["p_value"] for r in comparisons])):
        row["p_holm"] = p_holm
        row["significant"] = bool(p_holm < stats.ALPHA)
    facts["comparisons"] = len(comparisons)
    facts["untested"] = sum(1 for r in mean_rows if r.get("delta_map50_95") is not None and not r.get("is_reference")
                            and r.get("p_value") is None)
    facts["n_seeds"] = max((r.get("n_seeds") or 0 for r in mean_rows), default=0)
    facts["method"] = stats.METHOD
    facts["method_reference"] = stats.METHOD_REF
    facts.update(power_delta=POWER_DELTA, power=POWER, variance_components=[
        {k: r.get(k) for k in ("model", "backbone", "reference", "paired_seeds", "delta_seed_sd", "delta_image_sd",
                               "seeds_needed", "more_seeds_cannot_help")}
        for r in mean_rows if r.get("delta_image_sd") is not None])
    return facts


COMPARE_KEYS = ("delta_map50_95", "delta_map50_95_ci95", "delta_ci_kind", "p_value", "p_holm", "significant",
                "paired_seeds", "delta_seed_sd", "delta_image_sd", "delta_df", "seeds_needed",
                "more_seeds_cannot_help")


def _compare(row: dict, groups: dict, replicates: dict[str, np.ndarray], boot: dict[str, Any]) -> None:
    for key in COMPARE_KEYS:
        row.setdefault(key, None)
    ref_label = row.get("reference")
    row["is_reference"] = ref_label == row["backbone"]
    ref = groups.get((row["model"], ref_label))
    if row["is_reference"] or not ref:
        return
    mine = groups[(row["model"], row["backbone"])]
    seeds = sorted(set(mine) & set(ref))
    seeds = [s for s in seeds if isinstance(mine[s].get("map50_95"), (int, float))
             and isinstance(ref[s].get("map50_95"), (int, float))]
    if not seeds:
        return
    row["paired_seeds"] = len(seeds)
    row["delta_map50_95"] = float(np.mean([mine[s]["map50_95"] - ref[s]["map50_95"] for s in seeds]))
    ids = [(mine[s]["cell_id"], ref[s]["cell_id"]) for s in seeds]
    if not all(a in replicates and b in replicates for a, b in ids):
        row["delta_method"] = "difference of seed means (no saved detections: no interval)"
        return
    try:
        result = stats.paired_test([replicates[a] for a, _ in ids], [replicates[b] for _, b in ids],
                                   n_images=boot.get("images"))
    except ValueError as err:  # e.g. no objects in the scoring split: say so in the row, keep the table
        LOG.warning("%s %s: no comparison test: %s", row["model"], row["backbone"], err)
        row["delta_method"] = f"difference of seed means (no test: {err})"
        return
    row["delta_map50_95"] = result.delta
    row["delta_map50_95_ci95"] = list(result.ci95)
    row["delta_ci_kind"] = result.interval
    row["p_value"] = result.p_value
    row["delta_df"] = result.df
    row["delta_seed_sd"] = result.seed_sd
    row["delta_image_sd"] = result.image_sd
    row["seeds_needed"] = stats.seeds_needed(POWER_DELTA, result.seed_sd, result.image_sd, POWER)
    row["more_seeds_cannot_help"] = stats.power_ceiling(POWER_DELTA, result.image_sd) < POWER
    row["delta_method"] = result.method
