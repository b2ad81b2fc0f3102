"""``yololab demo``: offline end to end (synthetic data -> real training -> report), here at toy scale."""

from __future__ import annotations

import json

from yololab.experiments.demo import QUICK, DemoSettings, demo_spec
from yololab.experiments.plan.spec import expand_cells, validate_spec


def test_default_demo_is_yolov5n_against_two_swapped_backbones_from_scratch(tmp_path):
    spec = demo_spec(tmp_path / "data.yaml", DemoSettings())
    validate_spec(spec)
    cells = expand_cells(spec)
    assert {c.model for c in cells} == {"yolov5n"} and len(cells) >= 3
    assert cells[0].backbone.is_native and sum(not c.backbone.is_native for c in cells) >= 2
    assert all(c.backbone.pretrained is False for c in cells)  # nothing to download


def test_estimate_scales_the_calibrated_step(monkeypatch):
    import yololab.experiments.demo_estimate as est

    monkeypatch.setattr(est, "time_training_step", lambda imgsz, batch, threads: 0.5)
    e = est.estimate_demo(imgsz=128, batch=8, epochs=28, num_train=240, cells=3, workers=2, threads=1)
    assert e.steps_per_cell == 28 * 30 and e.seconds == est.OVERHEAD * 0.5 * 840 * 2  # 3 cells, 2 at a time
    assert e.sentence().startswith("demo: expected to take about ") and "on this machine" in e.sentence()
    assert est.minutes(45) == "45 s" and est.minutes(600) == "10.0 min"


def test_quick_demo_from_the_command_line(tmp_path, capsys, caplog):
    import logging

    from yololab.cli import main

    out = tmp_path / "demo"
    with caplog.at_level(logging.INFO, logger="yololab"):
        assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| yolov5n | cspdarknet |" in printed and "report:" in printed
    assert printed.strip().splitlines()[-1].startswith("demo: done in ")  # how long it took, last
    assert "demo: expected to take about" in caplog.text  # before it trains
    assert "# Backbone comparison on synthetic-shapes (val split)" in (out / "results.md").read_text()
    assert (out / "results_full.tex").is_file()
    data = json.loads((out / "results.json").read_text())
    cells = [r for r in data["rows"] if r["row_type"] == "cell"]
    assert len(cells) == len(QUICK.backbones) and all(r["status"] == "done" for r in cells)
    assert all(r["epochs_run"] == QUICK.epochs and r["latency_onnxruntime_cpu_ms"] > 0 for r in cells)
    assert data["run"]["command"] == f"yololab demo --out {out} --quick"
    for name in ("report.html", "results.md", "results.tex", "results.csv", "plots/training_curves.png",
                 "plots/map_vs_gflops.svg", "plots/per_class_ap.png"):
        assert (out / name).is_file(), name
    # one seed: no significance mark, the test-set interval labelled as such, and a caption that says why
    summary = [r for r in data["rows"] if r["row_type"] != "cell" and not r.get("is_reference")]
    assert summary and all(r["significant"] is None and r["p_value"] is None for r in summary)
    assert all(r["delta_ci_kind"] in ("test set", None) and r["delta_seed_sd"] is None for r in summary)
    md = (out / "results.md").read_text()
    assert "(test set only)" in md and "no significance is claimed" in md and "\\*" not in md.split("## Summary")[1]
    assert "Student-t interval over seeds" not in data["caption"]
    # a second run finds everything done and trains nothing
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/metrics.json")}
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/metrics.json")} == mtimes
