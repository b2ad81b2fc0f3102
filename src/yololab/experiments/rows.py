"""One flat row per cell, read back from the cell folders of a comparison (metrics, bench, errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yololab.experiments.layout import CellPaths, cell_dir
from yololab.experiments.cell_config import cell_state, describe_cell, init_label
from yololab.jsonfile import read_json_if_present
from yololab.experiments.latency import unreliable_reason
from yololab.experiments.spec import Cell, expand_cells, load_spec
from yololab.experiments.tuning.records import EntryKey


def collect_rows(out: Path, cells: list[Cell], weights: str | None = None) -> list[dict]:
    """One flat row per cell from its files (metrics.json, bench.json, error.json); ``weights`` is the
    spec's whole-model initial checkpoint (for the Init column)."""
    from yololab.experiments.tuning.report import tuning_columns

    tuned = tuning_columns(out)
    rows = []
    for cell in cells:
        paths = CellPaths(cell_dir(out, cell))
        row: dict[str, Any] = {"row_type": "cell", **describe_cell(cell, weights)}
        row.update(tuned.get(EntryKey(cell.model, cell.label), {}))
        metrics = read_json_if_present(paths.metrics)
        if metrics is not None:
            row.update(metrics)
            row["status"] = "done"
            row["reference"] = cell.reference  # a report choice: the spec's, not the one when it was scored
            row["init"] = init_label(cell, weights)
            bench_file = read_json_if_present(paths.bench) or {}
            bench = bench_file.get("results", {})
            if "loadavg_1min" in bench_file:
                row["latency_loadavg"] = bench_file["loadavg_1min"]
            for backend, res in bench.items():
                if isinstance(res, dict) and res.get("median_ms"):
                    row[f"latency_{backend}_ms"] = res["median_ms"]
                    row[f"latency_{backend}_p90_ms"] = res.get("p90_ms")
                    row[f"latency_{backend}_unreliable"] = unreliable_reason(
                        res, bench_file.get("loadavg_1min"), bench_file.get("cpu_count"))
                    row[f"fps_{backend}"] = 1000.0 / res["median_ms"]
                    row[f"latency_{backend}_device"] = res.get("device")
                    row[f"latency_{backend}_threads"] = res.get("threads")
                elif isinstance(res, dict) and res.get("error"):
                    row[f"latency_{backend}_error"] = res["error"]
        else:
            state = cell_state(paths)
            row["status"] = "failed" if state == "failed" else state if state != "new" else "pending"
            error = read_json_if_present(paths.error)
            if error:
                row["status"] = "failed"
                row["error"] = error.get("error")
        row["cell_dir"] = str(paths.root.relative_to(out))
        rows.append(row)
    return rows


def load_rows(out_dir: str | Path) -> list[dict]:
    """Rows of an existing comparison folder (for ``--report-only``)."""
    out = Path(out_dir)
    spec_path = out / "experiment.yaml"
    if not spec_path.is_file():
        raise FileNotFoundError(f"{spec_path} not found: is {out} a comparison folder?")
    spec = load_spec(spec_path)
    from yololab.experiments.tuning.apply import tuned_cells_from_folder

    cells = tuned_cells_from_folder(expand_cells(spec), out)
    return collect_rows(out.resolve(), cells, spec.train.get("weights"))
