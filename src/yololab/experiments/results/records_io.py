"""The one flat form of the result records: :class:`CellResult` / :class:`SummaryRow` <-> a flat dict
(the rows of results.json and results.csv, whose column names the README documents), and the files
made of it (results.csv, per_class.csv, results.json with its ``format_version``).

A cell's metrics.json uses the same names: :func:`metrics_flat` writes it from a scored
:class:`CellResult`, :func:`scored_parts` reads it back.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from yololab.atomic import atomic_write_text
from yololab.experiments.results.latency_backends import BACKENDS, backend
from yololab.experiments.results.records import (Accuracy, AnalysisSummary, ClassAP, CellResult, Comparison, Cost, Entry,
                                         Estimate, Latency, LatencySummary, Provenance, Row, SummaryRow, Tuning,
                                         SCORED_MAPS)
from yololab.experiments.results.status import CellStatus

LOG = logging.getLogger("yololab")

#: 2: results.json says ``format_version``; 1 (no such field): the same row columns, read alike
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

# Flat names that differ from the record's field names.
ENTRY_KEYS = {"label": "backbone"}
COMPARISON_KEYS = {"delta": "delta_map50_95", "delta_ci95": "delta_map50_95_ci95", "ci_kind": "delta_ci_kind",
                   "seed_sd": "delta_seed_sd", "image_sd": "delta_image_sd", "df": "delta_df",
                   "method": "delta_method"}
#: the figures a summary row averages over seeds, in column order: (sub-record, field)
AVERAGED = (("cost", "params"), ("cost", "backbone_params"), ("cost", "adapter_params"), ("cost", "gflops"),
            *(("accuracy", k) for k in SCORED_MAPS), ("cost", "train_seconds"), ("cost", "images_per_second"),
            ("cost", "peak_memory_mb"), ("cost", "epochs_run"), ("accuracy", "best_map50_95"))
SIZE_KEYS = ("params", "backbone_params", "adapter_params", "neck_params", "head_params", "gflops")
TRAIN_KEYS = ("train_seconds", "images_per_second", "peak_memory_mb", "epochs_run", "best_map50_95")


def _plain(value: Any) -> Any:
    """Tuples as lists, enums as their strings: what JSON holds."""
    if isinstance(value, CellStatus):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _known(cls: type, data: Mapping[str, Any], renamed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The fields of ``cls`` that ``data`` has (under their flat names)."""
    renamed = renamed or {}
    out = {}
    for f in fields(cls):
        key = renamed.get(f.name, f.name)
        if key in data:
            out[f.name] = data[key]
    return out


def _pair(value: Any) -> tuple[float, float] | None:
    return (value[0], value[1]) if isinstance(value, (list, tuple)) and len(value) == 2 else None


# -- pieces shared by both row kinds ---------------------------------------------------------------
def entry_from_flat(flat: Mapping[str, Any]) -> Entry:
    return Entry(**_known(Entry, flat, ENTRY_KEYS))


def tuning_flat(tuning: Tuning | None) -> dict[str, Any]:
    return {} if tuning is None else {f.name: getattr(tuning, f.name) for f in fields(Tuning)}


def tuning_from_flat(flat: Mapping[str, Any]) -> Tuning | None:
    return Tuning(**_known(Tuning, flat)) if "tuned" in flat else None


def per_class_flat(per_class: Mapping[str, ClassAP]) -> dict[str, dict[str, Any]]:
    return {name: {"ap50_95": c.ap50_95, "ap50": c.ap50, "instances": c.instances} for name, c in per_class.items()}


def per_class_from_flat(value: Any) -> dict[str, ClassAP]:
    return {str(name): ClassAP(**_known(ClassAP, entry)) for name, entry in (value or {}).items()
            if isinstance(entry, Mapping)}


# -- a cell ----------------------------------------------------------------------------------------
def scored_parts(metrics: Mapping[str, Any]) -> tuple[Accuracy[float], Cost[float], Provenance, AnalysisSummary | None]:
    """A cell's metrics.json (or the scored part of a flat cell row) as its sub-records."""
    accuracy = Accuracy(**{**_known(Accuracy, metrics), "per_class": per_class_from_flat(metrics.get("per_class"))})
    analysis = metrics.get("analysis")
    summary = AnalysisSummary(**_known(AnalysisSummary, analysis)) if isinstance(analysis, Mapping) else None
    return accuracy, Cost(**_known(Cost, metrics)), Provenance(**_known(Provenance, metrics)), summary


def latency_flat(name: str, latency: Latency) -> dict[str, Any]:
    b = backend(name)
    if latency.error is not None:
        return {b.error_key: latency.error}
    return {b.ms_key: latency.median_ms, b.p90_key: latency.p90_ms, b.unreliable_key: latency.unreliable,
            b.fps_key: latency.fps, b.device_key: latency.device, b.threads_key: latency.threads}


def latency_from_flat(flat: Mapping[str, Any]) -> dict[str, Latency]:
    out = {}
    for b in BACKENDS:
        if flat.get(b.ms_key) is not None:
            out[b.name] = Latency(flat[b.ms_key], flat.get(b.p90_key), flat.get(b.unreliable_key),
                                  flat.get(b.device_key), flat.get(b.threads_key))
        elif flat.get(b.error_key):
            out[b.name] = Latency(error=flat[b.error_key])
    return out


def _analysis_flat(analysis: AnalysisSummary | None) -> dict[str, Any] | None:
    return None if analysis is None else {f.name: getattr(analysis, f.name) for f in fields(AnalysisSummary)}


def _identity_flat(row: CellResult) -> dict[str, Any]:
    e = row.entry
    return {"cell_id": row.cell_id, "model": e.model, "backbone": e.label, "backbone_name": e.backbone_name,
            "native": e.native, "seed": row.seed, "pretrained": e.pretrained, "init": e.init, "freeze": e.freeze,
            "backbone_lr_mult": e.backbone_lr_mult, "reference": row.reference}


def _scores_flat(row: CellResult) -> dict[str, Any]:
    """A scored cell's figures, up to its analysis (metrics.json's order)."""
    cost, acc, prov = row.cost, row.accuracy, row.provenance
    flat: dict[str, Any] = {k: getattr(cost, k) for k in SIZE_KEYS}
    flat.update(eval_imgsz=prov.eval_imgsz, weights=prov.weights, score_split=prov.score_split,
                num_score_images=prov.num_score_images)
    if prov.num_val_images is not None:
        flat["num_val_images"] = prov.num_val_images
    flat.update({k: getattr(acc, k) for k in SCORED_MAPS})
    flat["per_class"] = per_class_flat(acc.per_class)
    flat.update({k: getattr(cost if k != "best_map50_95" else acc, k) for k in TRAIN_KEYS})
    flat.update(train_device=prov.train_device, gt_sha256=prov.gt_sha256, analysis=_analysis_flat(row.analysis))
    return flat


def _files_flat(prov: Provenance) -> dict[str, Any]:
    """The config and files a scored cell's figures come from."""
    return {"fingerprint": prov.fingerprint, "checkpoint": prov.checkpoint, "selection_split": prov.selection_split,
            "detections_file": prov.detections_file, "detections_sha256": prov.detections_sha256,
            "matches_file": prov.matches_file}


def metrics_flat(row: CellResult) -> dict[str, Any]:
    """A scored cell's metrics.json: its figures, identity and files (the inverse of :func:`scored_parts`);
    status, latency and tuning are not in it (the folder, bench.json and the study say those)."""
    return {**_scores_flat(row), **_identity_flat(row), **_files_flat(row.provenance)}


def cell_to_flat(row: CellResult) -> dict[str, Any]:
    """The flat row of a cell (results.csv / results.json), in today's column order."""
    flat: dict[str, Any] = {"row_type": "cell", **_identity_flat(row), **tuning_flat(row.tuning)}
    if row.done:
        flat.update(_scores_flat(row))
        flat.update(_files_flat(row.provenance))
    flat["status"] = str(row.status)
    if row.latency_loadavg is not None:
        flat["latency_loadavg"] = row.latency_loadavg
    for name, latency in row.latency.items():
        flat.update(latency_flat(name, latency))
    if row.error is not None:
        flat["error"] = row.error
    flat["cell_dir"] = row.cell_dir
    return flat


def cell_from_flat(flat: Mapping[str, Any]) -> CellResult:
    """The record of a flat cell row (results.json, or identity + metrics.json + latency columns)."""
    status = CellStatus(flat.get("status") or CellStatus.PENDING)
    accuracy, cost, provenance, analysis = scored_parts(flat)
    return CellResult(cell_id=flat["cell_id"], entry=entry_from_flat(flat), seed=flat.get("seed"), status=status,
                      reference=flat.get("reference"), accuracy=accuracy, cost=cost, provenance=provenance,
                      latency=latency_from_flat(flat), latency_loadavg=flat.get("latency_loadavg"),
                      tuning=tuning_from_flat(flat), analysis=analysis, error=flat.get("error"),
                      cell_dir=flat.get("cell_dir"))


# -- a summary row ---------------------------------------------------------------------------------
def _estimate_flat(key: str, estimate: Estimate | None) -> dict[str, Any]:
    return {} if estimate is None else {key: estimate.mean, f"{key}_std": estimate.std}


def _estimate_from_flat(flat: Mapping[str, Any], key: str) -> Estimate | None:
    if flat.get(key) is None:
        return None
    return Estimate(flat[key], flat.get(f"{key}_std"), _pair(flat.get(f"{key}_ci95")))


def summary_to_flat(row: SummaryRow) -> dict[str, Any]:
    """The flat row of a summary (row_type 'mean'), in today's column order."""
    e, c = row.entry, row.comparison
    flat: dict[str, Any] = {"row_type": "mean", "cell_id": row.cell_id, "model": e.model, "backbone": e.label,
                            "status": "done", "n_seeds": row.n_seeds, "seeds": list(row.seeds),
                            "backbone_name": e.backbone_name, "native": e.native, "init": e.init,
                            "pretrained": e.pretrained, "freeze": e.freeze, "backbone_lr_mult": e.backbone_lr_mult,
                            "eval_imgsz": row.eval_imgsz, **tuning_flat(row.tuning)}
    for part, key in AVERAGED:
        flat.update(_estimate_flat(key, getattr(getattr(row, part), key)))
    for b in BACKENDS:
        flat.update(_estimate_flat(b.ms_key, _latency_summary(row, b.name).median_ms))
    for b in BACKENDS:
        flat.update(_estimate_flat(b.fps_key, _latency_summary(row, b.name).fps))
    for b in BACKENDS:
        flat[b.unreliable_key] = _latency_summary(row, b.name).unreliable
    flat["per_class"] = per_class_flat(row.accuracy.per_class)
    flat["score_split"] = row.score_split
    for key in SCORED_MAPS:
        estimate = getattr(row.accuracy, key)
        if estimate is not None and estimate.ci95 is not None:
            flat[f"{key}_ci95"] = list(estimate.ci95)
    flat["map50_95_ci_method"] = row.ci_method
    flat["identical_seeds"] = _plain(row.identical_seeds)
    flat["reference"] = c.reference
    for f in fields(Comparison):
        if f.name not in ("reference", "is_reference", "method"):
            flat[COMPARISON_KEYS.get(f.name, f.name)] = _plain(getattr(c, f.name))
    flat["is_reference"] = c.is_reference
    if c.method is not None:
        flat["delta_method"] = c.method
    return flat


def _latency_summary(row: SummaryRow, name: str) -> LatencySummary:
    return row.latency.get(name) or LatencySummary()


def summary_from_flat(flat: Mapping[str, Any]) -> SummaryRow:
    """The record of a flat summary row (results.json)."""
    figures = {key: _estimate_from_flat(flat, key) for _, key in AVERAGED}
    accuracy = Accuracy(**{k: v for k, v in figures.items() if k in {f.name for f in fields(Accuracy)}},
                        per_class=per_class_from_flat(flat.get("per_class")))
    cost = Cost(**{k: v for k, v in figures.items() if k in {f.name for f in fields(Cost)}})
    latency = {}
    for b in BACKENDS:
        found = LatencySummary(_estimate_from_flat(flat, b.ms_key), _estimate_from_flat(flat, b.fps_key),
                               flat.get(b.unreliable_key))
        if found != LatencySummary():
            latency[b.name] = found
    comparison = Comparison(**{**_known(Comparison, flat, COMPARISON_KEYS),
                               "delta_ci95": _pair(flat.get("delta_map50_95_ci95")),
                               "is_reference": bool(flat.get("is_reference"))})
    identical = flat.get("identical_seeds")
    return SummaryRow(entry=entry_from_flat(flat), seeds=tuple(flat.get("seeds") or ()),
                      eval_imgsz=flat.get("eval_imgsz"), score_split=flat.get("score_split"),
                      tuning=tuning_from_flat(flat), accuracy=accuracy, cost=cost, latency=latency,
                      ci_method=flat.get("map50_95_ci_method"),
                      identical_seeds=tuple(tuple(p) for p in identical) if identical else None,
                      comparison=comparison)


def to_flat(row: Row) -> dict[str, Any]:
    return summary_to_flat(row) if isinstance(row, SummaryRow) else cell_to_flat(row)


def from_flat(flat: Mapping[str, Any]) -> Row:
    return summary_from_flat(flat) if flat.get("row_type") == "mean" else cell_from_flat(flat)


# -- files -----------------------------------------------------------------------------------------
def csv_value(value: Any) -> Any:
    """A CSV cell: nested values (per-class AP, seed lists) as JSON text."""
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """results.csv: one line per row, the union of the rows' columns (per-class AP: per_class.csv)."""
    flats = [to_flat(r) for r in rows]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys and k != "per_class"]
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for flat in flats:
        writer.writerow({k: csv_value(v) for k, v in flat.items()})
    atomic_write_text(path, handle.getvalue(), Path(path).parent)


def write_per_class_csv(path: Path, rows: Sequence[Row]) -> None:
    """Long format: one line per (row, class)."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(["row_type", "cell_id", "model", "backbone", "seed", "class", "ap50_95", "ap50", "instances"])
    for row in rows:
        seed = row.seed if isinstance(row, CellResult) else ""
        for name, ap in row.accuracy.per_class.items():
            writer.writerow([row.row_type, row.cell_id, row.entry.model, row.entry.label,
                             "" if seed is None else seed, name, ap.ap50_95, ap.ap50,
                             "" if ap.instances is None else ap.instances])
    atomic_write_text(path, handle.getvalue(), Path(path).parent)


@dataclass(frozen=True)
class ResultsFile:
    """results.json read back: the rows as records and the rest as written."""

    format_version: int
    cells: list[CellResult]
    summaries: list[SummaryRow]
    data: dict[str, Any]


def results_json(rows: Sequence[Row], **sections: Any) -> str:
    """results.json's text: ``format_version``, the flat ``rows``, then ``sections`` (caption, spec, ...)."""
    return json.dumps({"format_version": FORMAT_VERSION, "rows": [to_flat(r) for r in rows], **sections},
                      indent=2, default=str)


def read_results(path: str | Path) -> ResultsFile:
    """A results.json as records; one written before ``format_version`` (version 1) reads alike, a newer
    or unknown version is refused with a message naming it."""
    path = Path(path)
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValueError(f"{path}: not a yololab results.json (no 'rows' list)")
    version = data.get("format_version", 1)
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{path}: results.json format_version {version!r} is not one this yololab reads "
                         f"({', '.join(map(str, READABLE_VERSIONS))}); use a newer yololab")
    rows = [from_flat(r) for r in data["rows"]]
    return ResultsFile(version, [r for r in rows if isinstance(r, CellResult)],
                       [r for r in rows if isinstance(r, SummaryRow)], data)
