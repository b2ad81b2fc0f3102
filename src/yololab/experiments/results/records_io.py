"""The one flat form of the result records: :class:`CellResult` / :class:`SummaryRow` <-> a flat dict
(the rows of results.json and results.csv, whose column names the README documents), and the files
made of it (results.csv, per_class.csv, results.json with its ``format_version``).

A cell's metrics.json uses the same names: :func:`metrics_flat` writes it from a scored
:class:`CellResult`, :func:`scored_parts` reads it back. The values move through the generic converter
(:mod:`~yololab.experiments.results.flat`); what is here is each file's column layout (which columns, in
which order) and the latency columns, named by the latency table.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yololab.atomic import atomic_write_text
from yololab.errors import DataError
from yololab.experiments.results.flat import columns_of, read
from yololab.experiments.results.flat import from_flat as record_from_flat
from yololab.experiments.results.flat import to_flat as record_to_flat
from yololab.experiments.results.latency_backends import BACKENDS, LatencyBackend, backend
from yololab.experiments.results.records import (SCORED_MAPS, Accuracy, AnalysisSummary, CellResult, Comparison, Cost,
                                                 Entry, Latency, LatencySummary, Provenance, Robustness,
                                                 RobustnessComparison, Row, SummaryRow, Tuning)
from yololab.experiments.results.status import CellStatus

LOG = logging.getLogger("yololab")

#: 2: results.json says ``format_version``; 1 (no such field): the same row columns, read alike
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

# -- the column layouts: which columns each file has, in their order (the README documents them) ----------
IDENTITY = ("cell_id", "model", "backbone", "backbone_name", "native", "seed", "pretrained", "init", "freeze",
            "backbone_lr_mult", "reference")
SIZE_KEYS = ("params", "backbone_params", "adapter_params", "neck_params", "head_params", "gflops")
TRAIN_KEYS = ("train_seconds", "images_per_second", "peak_memory_mb", "epochs_run", "best_map50_95")
#: a scored cell's figures, up to its analysis
SCORES = (*SIZE_KEYS, "eval_imgsz", "weights", "score_split", "scoring", "num_score_images", "num_val_images",
          *SCORED_MAPS,
          "per_class", *TRAIN_KEYS, "train_device", "gt_sha256", "analysis")
#: the config and files a scored cell's figures come from
FILES = ("fingerprint", "checkpoint", "selection_split", "detections_file", "detections_sha256", "matches_file")
TUNING = columns_of(Tuning)
#: ``robustness:`` figures of a cell (absent without it) and of a summary row, with its Δ mPC test
ROBUSTNESS = columns_of(Robustness)
ROBUSTNESS_SUMMARY = ("mpc", "mpc_std", "mpc_ci95", "rpc", "rpc_std", "rpc_ci95", "corruption_ap",
                      *columns_of(RobustnessComparison))
#: a cell's metrics.json (status, latency and tuning are not in it: the folder, bench.json and the study say those)
METRICS_COLUMNS = (*SCORES, *ROBUSTNESS, *IDENTITY, *FILES)
#: the figures a summary row averages over seeds, in column order (each with its ``_std``)
AVERAGED = ("params", "backbone_params", "adapter_params", "gflops", *SCORED_MAPS, "train_seconds",
            "images_per_second", "peak_memory_mb", "epochs_run", "best_map50_95")
SUMMARY_COLUMNS = (
    "row_type", "cell_id", "model", "backbone", "status", "n_seeds", "seeds", "backbone_name", "native", "init",
    "pretrained", "freeze", "backbone_lr_mult", "eval_imgsz", *TUNING,
    *(c for key in AVERAGED for c in (key, f"{key}_std")),
    *(c for b in BACKENDS for c in (b.ms_key, f"{b.ms_key}_std")),
    *(c for b in BACKENDS for c in (b.fps_key, f"{b.fps_key}_std")),
    *(b.unreliable_key for b in BACKENDS),
    "per_class", "score_split", *(f"{key}_ci95" for key in SCORED_MAPS), "map50_95_ci_method", "identical_seeds",
    "reference", *(c for c in columns_of(Comparison) if c not in ("reference", "is_reference", "delta_method")),
    "is_reference", "delta_method", *ROBUSTNESS_SUMMARY)
#: columns written only when they have a value
SPARSE = frozenset({"num_val_images", "scoring", "map_tiny", "map_tiny_std", "latency_loadavg", "error", "delta_method",
                    *(f"{key}_ci95" for key in SCORED_MAPS)})


def _laid_out(flat: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """``flat``'s values of ``columns``, in that order (absent ones and empty sparse ones left out)."""
    return {c: flat[c] for c in columns if c in flat and not (c in SPARSE and flat[c] is None)}


# -- pieces ----------------------------------------------------------------------------------------
def entry_from_flat(flat: Mapping[str, Any]) -> Entry:
    return record_from_flat(Entry, flat)


def scored_parts(metrics: Mapping[str, Any]) -> tuple[Accuracy[float], Cost[float], Provenance, AnalysisSummary | None]:
    """A cell's metrics.json (or the scored part of a flat cell row) as its sub-records."""
    return (record_from_flat(Accuracy, metrics), record_from_flat(Cost, metrics), record_from_flat(Provenance, metrics),
            read(metrics.get("analysis"), AnalysisSummary | None))


def robustness_part(metrics: Mapping[str, Any]) -> Robustness[float] | None:
    """A cell's scores under corruption from its metrics.json (None when it was not scored under any)."""
    return record_from_flat(Robustness, metrics) if metrics.get("mpc") is not None else None


def latency_flat(name: str, latency: Latency) -> dict[str, Any]:
    """One backend's figures of a cell under the latency table's columns (fps after the spread's verdict)."""
    b = backend(name)
    if latency.error is not None:
        return {b.error_key: latency.error}
    return {b.ms_key: latency.median_ms, b.p90_key: latency.p90_ms, b.unreliable_key: latency.unreliable,
            b.fps_key: latency.fps, b.device_key: latency.device, b.threads_key: latency.threads}


def latency_from_flat(flat: Mapping[str, Any]) -> dict[str, Latency]:
    out = {}
    for b in BACKENDS:
        if flat.get(b.ms_key) is not None:
            out[b.name] = record_from_flat(Latency, flat, _latency_columns(b))
        elif flat.get(b.error_key):
            out[b.name] = Latency(error=flat[b.error_key])
    return out


def _latency_columns(b: LatencyBackend) -> dict[str, str]:
    """The columns of a :class:`Latency` / :class:`LatencySummary` of backend ``b``."""
    return {"median_ms": b.ms_key, "p90_ms": b.p90_key, "unreliable": b.unreliable_key, "device": b.device_key,
            "threads": b.threads_key, "fps": b.fps_key, "error": b.error_key}


# -- a cell ----------------------------------------------------------------------------------------
def metrics_flat(row: CellResult) -> dict[str, Any]:
    """A scored cell's metrics.json: its figures, identity and files (the inverse of :func:`scored_parts`)."""
    return _laid_out(record_to_flat(row), METRICS_COLUMNS)


def cell_to_flat(row: CellResult) -> dict[str, Any]:
    """The flat row of a cell (results.csv / results.json)."""
    flat = {"row_type": "cell", **record_to_flat(row)}
    latency = [latency_flat(name, figures) for name, figures in row.latency.items()]
    for columns in latency:
        flat.update(columns)
    scored = (*SCORES, *ROBUSTNESS, *FILES) if row.done else ()
    return _laid_out(flat, ("row_type", *IDENTITY, *TUNING, *scored, "status", "latency_loadavg",
                            *(c for columns in latency for c in columns), "error", "cell_dir"))


def cell_from_flat(flat: Mapping[str, Any]) -> CellResult:
    """The record of a flat cell row (results.json, or identity + metrics.json + latency columns)."""
    status = read(flat.get("status") or "pending", CellStatus)
    return record_from_flat(CellResult, flat, seed=flat.get("seed"), status=status, latency=latency_from_flat(flat))


# -- a summary row ---------------------------------------------------------------------------------
def summary_to_flat(row: SummaryRow) -> dict[str, Any]:
    """The flat row of a summary (row_type 'mean')."""
    flat = {"row_type": "mean", "cell_id": row.cell_id, "status": str(row.status), "n_seeds": row.n_seeds,
            **record_to_flat(row)}
    for b in BACKENDS:
        flat.update(record_to_flat(row.latency.get(b.name) or LatencySummary(), _latency_columns(b)))
    return _laid_out(flat, SUMMARY_COLUMNS)


def summary_from_flat(flat: Mapping[str, Any]) -> SummaryRow:
    """The record of a flat summary row (results.json)."""
    latency = {}
    for b in BACKENDS:
        found = record_from_flat(LatencySummary, flat, _latency_columns(b))
        if found != LatencySummary():
            latency[b.name] = found
    return record_from_flat(SummaryRow, flat, seeds=tuple(flat.get("seeds") or ()), latency=latency)


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


def _check_version(path: Path, version: Any) -> None:
    if version not in READABLE_VERSIONS:
        raise DataError(f"{path}: results.json format_version {version!r} is not one this yololab reads "
                        f"({', '.join(map(str, READABLE_VERSIONS))}); use a newer yololab")


def refuse_unknown_results(path: str | Path) -> None:
    """Refuse to rewrite a results.json of a format_version this yololab does not know (a newer one wrote
    it); a missing or unreadable file is not refused (the report writes it anew from the cells)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        _check_version(Path(path), data.get("format_version", 1))


def read_results(path: str | Path) -> ResultsFile:
    """A results.json as records; one written before ``format_version`` (version 1) reads alike, a newer
    or unknown version is refused with a message naming it."""
    path = Path(path)
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValueError(f"{path}: not a yololab results.json (no 'rows' list)")
    version = data.get("format_version", 1)
    _check_version(path, version)
    rows = [from_flat(r) for r in data["rows"]]
    return ResultsFile(version, [r for r in rows if isinstance(r, CellResult)],
                       [r for r in rows if isinstance(r, SummaryRow)], data)
