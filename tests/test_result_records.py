"""Result records (issue 17): CellResult and SummaryRow are frozen and typed; their one flat form keeps
results.csv / results.json's columns; a results.json from before ``format_version`` (version 1) reads,
one of an unknown version is refused naming it; latency backends come from one table."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from yololab.config import ConfigError
from yololab.experiments.results import latency_backends
from yololab.experiments.report.aggregate import aggregate_rows
from yololab.experiments.results.records import CellResult, Estimate, SummaryRow
from yololab.experiments.results.records_io import (FORMAT_VERSION, from_flat, read_results, results_json, to_flat,
                                            write_csv)
from yololab.experiments.plan.spec import spec_from_mapping
from yololab.experiments.results.status import CellStatus
from yololab.experiments.report.summary import summarise

#: results.json of a dry-run comparison written by yololab before format_version (2 entries x 2 seeds,
#: plus a failed and a pending cell added by hand in that version's column order)
OLD = Path(__file__).parent / "data" / "results_v1.json"


def test_an_old_results_json_reads_and_every_row_keeps_its_columns():
    flat_rows = json.loads(OLD.read_text())["rows"]
    results = read_results(OLD)
    assert results.format_version == 1
    assert [r.status for r in results.cells] == ["done"] * 4 + ["failed", "pending"]
    assert [r.entry.label for r in results.summaries] == ["cspdarknet", "hgnetv2_b0"]
    for flat in flat_rows:  # the flat form round-trips: same columns, same order, same values
        again = to_flat(from_flat(flat))
        assert list(again) == list(flat), flat["cell_id"]
        assert again == flat, flat["cell_id"]


def test_records_carry_typed_fields():
    results = read_results(OLD)
    cell = results.cells[0]
    assert isinstance(cell, CellResult) and cell.status is CellStatus.DONE and cell.done
    assert cell.cell_id == "yolov5n_cspdarknet_s0" and cell.entry.model == "yolov5n" and cell.seed == 0
    assert isinstance(cell.accuracy.map50_95, float) and set(cell.accuracy.per_class)
    torch_cpu = cell.latency["torch_cpu"]
    assert torch_cpu.fps == pytest.approx(1000 / torch_cpu.median_ms) and torch_cpu.threads >= 1
    assert cell.provenance.score_split == "val" and cell.analysis is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.seed = 3  # type: ignore[misc]
    failed = results.cells[4]
    assert failed.status is CellStatus.FAILED and failed.error == "RuntimeError: injected"
    assert failed.accuracy.map50_95 is None and not failed.latency
    summary = results.summaries[1]
    assert isinstance(summary, SummaryRow) and summary.n_seeds == 2 and summary.cell_id == "yolov5n_hgnetv2_b0_mean"
    assert isinstance(summary.accuracy.map50_95, Estimate) and summary.accuracy.map50_95.ci95 is not None
    assert summary.comparison.reference == "cspdarknet" and not summary.comparison.is_reference


def test_unknown_format_version_is_refused_naming_it(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"format_version": 99, "rows": []}))
    with pytest.raises(ValueError, match=r"results.json format_version 99 is not one this yololab reads"):
        read_results(path)
    path.write_text(json.dumps({"caption": "no rows"}))
    with pytest.raises(ValueError, match="not a yololab results.json"):
        read_results(path)


def test_results_json_says_its_version_and_reads_back(tmp_path):
    results = read_results(OLD)
    path = tmp_path / "results.json"
    path.write_text(results_json([*results.cells, *results.summaries], caption="c"))
    assert json.loads(path.read_text())["format_version"] == FORMAT_VERSION
    again = read_results(path)
    assert again.format_version == FORMAT_VERSION and again.cells == results.cells
    assert again.summaries == results.summaries


def test_csv_columns_are_the_flat_names(tmp_path):
    results = read_results(OLD)
    write_csv(tmp_path / "results.csv", [*results.cells, *results.summaries])
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    for name in ("row_type", "cell_id", "backbone", "map50_95", "latency_torch_cpu_ms", "fps_onnxruntime_cpu",
                 "latency_torch_cpu_unreliable", "n_seeds", "map50_95_std", "map50_95_ci95", "delta_map50_95",
                 "p_holm", "significant", "is_reference"):
        assert name in header, name
    assert "per_class" not in header  # per_class.csv holds it


def test_summarise_returns_new_rows_and_leaves_its_input_alone():
    cells = read_results(OLD).cells
    plain = aggregate_rows(cells)
    rows, facts = summarise(None, cells, plain)
    assert all(r.comparison.reference is None for r in plain)  # untouched
    assert [r.comparison.reference for r in rows] == ["cspdarknet", "cspdarknet"]
    assert rows[0].comparison.is_reference and rows[1].comparison.delta is not None
    assert rows[1].accuracy.map50_95.ci95 is not None and plain[1].accuracy.map50_95.ci95 is None
    assert facts.n_seeds == 2


def test_latency_backends_one_table_for_spec_and_rows():
    assert [b.name for b in latency_backends.BACKENDS] == ["torch_cpu", "onnxruntime_cpu", "cuda_fp16"]
    assert latency_backends.backend("torch").name == "torch_cpu"
    assert latency_backends.backend("torch_cpu").ms_key == "latency_torch_cpu_ms"
    base = {"data": "d.yaml", "models": ["yolov5n"], "backbones": ["native"], "seeds": [0]}
    # the spec names a backend as yololab bench does; the result name is accepted and means the same
    assert spec_from_mapping({**base, "latency_backends": ["torch_cpu", "onnxruntime"]}).latency_backends == \
        ("torch", "onnxruntime")
    with pytest.raises(ConfigError, match=r"latency_backends: unknown \['tpu'\]"):
        spec_from_mapping({**base, "latency_backends": ["tpu"]})


def test_report_only_needs_the_folders_spec(tmp_path, capsys):
    from yololab.cli import main

    assert main(["compare", "--out", str(tmp_path), "--report-only"]) == 2
    assert re.search(r"experiment.yaml not found: is .* a comparison folder", capsys.readouterr().err)
