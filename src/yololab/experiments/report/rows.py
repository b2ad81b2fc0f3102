"""One :class:`CellResult` per cell, read back from the cell folders of a comparison (metrics, bench, errors)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yololab.atomic import confined_folder
from yololab.experiments.plan.cell_config import cell_entry, cell_state
from yololab.experiments.score.latency import unreliable_reason
from yololab.experiments.plan.layout import CellPaths, cell_dir
from yololab.experiments.results.records import CellResult, Latency
from yololab.experiments.results.records_io import robustness_part, scored_parts
from yololab.experiments.plan.spec import Cell, ExperimentSpec, expand_cells
from yololab.experiments.results.status import CellStatus
from yololab.experiments.tuning.records import EntryKey
from yololab.jsonfile import read_json_if_present


def bench_latency(bench_file: Mapping[str, Any]) -> dict[str, Latency]:
    """Backend name -> :class:`Latency` of a cell's bench.json (a backend that failed: its error)."""
    load, cores = bench_file.get("loadavg_1min"), bench_file.get("cpu_count")
    out = {}
    for name, res in (bench_file.get("results") or {}).items():
        if isinstance(res, dict) and res.get("median_ms"):
            out[name] = Latency(res["median_ms"], res.get("p90_ms"), unreliable_reason(res, load, cores),
                                res.get("device"), res.get("threads"))
        elif isinstance(res, dict) and res.get("error"):
            out[name] = Latency(error=res["error"])
    return out


def cell_result(out: Path, cell: Cell, weights: str | None = None, tuning: Mapping[EntryKey, Any] | None = None
                ) -> CellResult:
    """A cell as its folder says: scored (metrics.json, bench.json) or its state and error."""
    paths = CellPaths(cell_dir(out, cell))
    common: dict[str, Any] = {
        "cell_id": cell.cell_id, "entry": cell_entry(cell, weights), "seed": cell.seed,
        "reference": cell.reference,  # a report choice: the spec's, not the one when it was scored
        "tuning": (tuning or {}).get(EntryKey(cell.model, cell.label)), "cell_dir": str(paths.root.relative_to(out))}
    metrics = read_json_if_present(paths.metrics)
    if metrics is not None:
        accuracy, cost, provenance, analysis = scored_parts(metrics)
        bench = read_json_if_present(paths.bench) or {}
        return CellResult(status=CellStatus.DONE, accuracy=accuracy, cost=cost, provenance=provenance,
                          analysis=analysis, latency=bench_latency(bench), latency_loadavg=bench.get("loadavg_1min"),
                          robustness=robustness_part(metrics), **common)
    error = read_json_if_present(paths.error)
    if error:
        return CellResult(status=CellStatus.FAILED, error=error.get("error"), **common)
    return CellResult(status=cell_state(paths), **common)


def collect_rows(out: Path, cells: list[Cell], weights: str | None = None, ablation: bool = False) -> list[CellResult]:
    """One :class:`CellResult` per cell from its files; ``weights`` is the spec's whole-model initial
    checkpoint (for the Init column); ``ablation`` (``slicing: {ablation: true}``): each cell's
    whole-image row follows its sliced one."""
    from yololab.experiments.report.tuning_report import tuning_columns

    tuned = tuning_columns(out)
    for cell in cells:  # a cell folder that is a link elsewhere is refused before anything is read or written
        confined_folder(cell_dir(out, cell), out, create=False)
    rows = []
    for cell in cells:
        rows.append(cell_result(out, cell, weights, tuned))
        if ablation:
            rows.append(whole_image_row(out, rows[-1]))
    return rows


def whole_image_row(out: Path, sliced: CellResult) -> CellResult:
    """The whole-image twin of a sliced cell row (the ablation): labelled '<label> (whole image)', compared
    with the sliced row; scored from metrics_whole.json, else in the sliced cell's state."""
    from dataclasses import replace

    from yololab.experiments.plan.layout import WHOLE
    from yololab.experiments.plan.slicing_spec import WHOLE_SUFFIX

    entry = replace(sliced.entry, label=sliced.entry.label + WHOLE_SUFFIX)
    common = {"cell_id": sliced.cell_id + WHOLE, "entry": entry, "reference": sliced.entry.label}
    metrics = read_json_if_present(CellPaths(out / sliced.cell_dir).metrics_whole) if sliced.cell_dir else None
    if metrics is None:
        status = sliced.status if sliced.status != CellStatus.DONE else CellStatus.FAILED
        error = (sliced.error if sliced.status != CellStatus.DONE
                 else "no metrics_whole.json: scored without the ablation")
        return replace(sliced, status=status, error=error, accuracy=type(sliced.accuracy)(), latency={},
                       analysis=None, **common)
    accuracy, cost, provenance, analysis = scored_parts(metrics)
    return replace(sliced, accuracy=accuracy, cost=cost, provenance=provenance, analysis=analysis, **common)


def load_rows(out_dir: str | Path, spec: ExperimentSpec) -> list[CellResult]:
    """Rows of an existing comparison folder whose spec (its experiment.yaml) is ``spec`` (``--report-only``)."""
    from yololab.experiments.tuning.apply import tuned_cells_from_folder

    out = Path(out_dir).resolve()
    cells = tuned_cells_from_folder(expand_cells(spec), out)
    return collect_rows(out, cells, spec.whole_model_weights, ablation=_ablation(spec))


def _ablation(spec: ExperimentSpec) -> bool:
    return spec.slicing is not None and spec.slicing.ablation
