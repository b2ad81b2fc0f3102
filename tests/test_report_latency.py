"""Latency that means something: timed with stated threads after training, backends this machine lacks
left out; on a busy CPU (the load figure injected: the 1-minute load average takes a minute to rise) or
with a wide spread, the figure is marked †, never bold, and left out of the Pareto front."""

from __future__ import annotations

import json
import logging

import dataclasses

import torch
from test_report_tables import ROWS, records, report_spec

from yololab.experiments.score.bench_cells import run_benchmarks
from yololab.experiments.results.columns import column, latency_column
from yololab.experiments.score.latency import available_backends, unreliable_reason
from yololab.experiments.report.plots import front_size
from yololab.experiments.results.records_io import summary_from_flat
from yololab.experiments.report.writer import write_report
from yololab.experiments.plan.comparison_plan import plan_comparison
from yololab.experiments.plan.spec import expand_cells, spec_from_mapping


def test_unreliable_reason_rules():
    steady = {"backend": "torch", "median_ms": 10.0, "p90_ms": 12.0}
    assert unreliable_reason(steady, load=0.3, cores=2) is None
    assert unreliable_reason(steady, load=3.4, cores=2) == "1-min load 3.4 on 2 cores"
    assert "6.0x the median" in unreliable_reason({**steady, "median_ms": 169.6, "p90_ms": 1019.8}, 0.1, 2)
    assert unreliable_reason({**steady, "backend": "cuda_fp16"}, load=3.4, cores=2) is None  # GPU: load is no matter


def test_backends_without_a_gpu_are_not_listed(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert available_backends(["torch", "onnxruntime", "cuda_fp16"]) == ["torch", "onnxruntime"]


def test_busy_cpu_marks_latency_unreliable_everywhere(tmp_path, monkeypatch, caplog):
    """run_benchmarks on two untrained cells with the load at twice the cores: bench.json records it, the
    table marks the figures †, bolds none of them, the caption says why, the front leaves them out."""
    from yololab import build_model
    from yololab.experiments.plan.layout import CellPaths, cell_dir
    from yololab.experiments.report.rows import collect_rows
    from yololab.models.checkpoints import save_model

    spec = spec_from_mapping({"data": "d.yaml", "models": ["yolov5n"], "backbones": ["native", "hgnetv2_b0"],
                              "seeds": [0], "imgsz": 64, "latency_runs": 3, "latency_warmup": 1,
                              "latency_backends": ["torch", "cuda_fp16"]})
    cells = expand_cells(spec)
    for cell, ap in zip(cells, (0.4, 0.5)):
        paths = CellPaths(cell_dir(tmp_path, cell))
        paths.best.parent.mkdir(parents=True)
        save_model(build_model("yolov5n", None if cell.backbone.is_native else cell.backbone.name), paths.best)
        paths.metrics.write_text(json.dumps({"map50_95": ap, "map50": ap + 0.2, "gflops": 1.0 + ap, "params": 1e6}))
    cores = __import__("os").cpu_count()
    monkeypatch.setattr("yololab.hardware.load_average", lambda: (2.0 * cores, 1.0, 1.0))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="yololab"):
        run_benchmarks(plan_comparison(spec, tmp_path))
    assert "cuda_fp16" not in caplog.text and "latency [1/2]" in caplog.text
    bench = json.loads(CellPaths(cell_dir(tmp_path, cells[0])).bench.read_text())
    assert set(bench["results"]) == {"torch_cpu"} and bench["loadavg_1min"] == 2.0 * cores
    assert bench["results"]["torch_cpu"]["threads"] == torch.get_num_threads()  # fixed, and stated
    rows = collect_rows(tmp_path, cells)
    assert all(r.latency["torch_cpu"].unreliable.startswith("1-min load") for r in rows)
    paths = write_report(dataclasses.replace(spec, data="/x/shapes/data.yaml"), tmp_path, rows)
    md = paths["md"].read_text()
    latency_cells = [line.split("|")[7].strip() for line in md.splitlines() if line.startswith("| yolov5n")]
    assert latency_cells and all(c.endswith("†") and "**" not in c for c in latency_cells)
    assert "† unreliable latency (1-min load" in md and "never bold" in md
    assert "threads" in md.split("Latency: batch 1")[1].split(".")[0] + md.split("Latency: batch 1")[1]
    assert r"$^\dagger$" in paths["tex"].read_text()
    mean = [summary_from_flat(r) for r in json.loads(paths["json"].read_text())["rows"] if r["row_type"] == "mean"]
    assert front_size(mean, latency_column("torch_cpu")) == 0
    assert front_size(mean, column("gflops")) == 2  # cheaper vs more accurate


def test_a_quiet_table_still_bolds_its_best_latency(tmp_path):
    md = write_report(report_spec(), tmp_path, records(ROWS))["md"].read_text()
    assert "**10.0**" in md and "†" not in md
    shaky = [dict(r, latency_torch_cpu_unreliable="1-min load 3.4 on 2 cores") if r["seed"] == 0 else dict(r)
             for r in ROWS]
    md = write_report(report_spec(), tmp_path, records(shaky))["md"].read_text()
    assert "10.0†" in md and "**10.0" not in md and "**11.0**" in md  # the best reliable figure is bold


def _mean(backbone, ap, gflops, n_seeds=1, std=None, **extra):
    return summary_from_flat({"row_type": "mean", "model": "yolov5n", "backbone": backbone, "map50_95": ap,
                              "gflops": gflops, "seeds": list(range(n_seeds)), "map50_95_std": std,
                              "latency_torch_cpu_ms": 10 * gflops, **extra})


def test_pareto_figure_draws_what_its_caption_says():
    from yololab.experiments.report.plots import pareto_figure

    def parts(rows, key="gflops"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = pareto_figure(rows, column(key), "x", "t")
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        ax, renderer = fig.axes[0], canvas.get_renderer()
        box = ax.get_window_extent(renderer)
        texts = [t.get_window_extent(renderer) for t in ax.texts]
        inside = all(box.x0 <= b.x0 and b.x1 <= box.x1 and box.y0 <= b.y0 and b.y1 <= box.y1 for b in texts)
        return ax.get_legend_handles_labels()[1], [c for c in ax.containers if c.has_yerr], inside

    labels, bars, inside = parts([_mean("a", 0.5, 1.0), _mean("b", 0.4, 2.0)])  # a dominates: a front of one
    assert "Pareto front" not in labels and not bars and inside
    labels, bars, inside = parts([_mean("a", 0.4, 1.0, 3, 0.01), _mean("a_very_long_backbone_name", 0.5, 2.0, 3, 0.02)])
    assert "Pareto front" in labels and len(bars) == 2 and inside  # several seeds: error bars
    labels, _, _ = parts([_mean("a", 0.4, 1.0), _mean("b", 0.5, 2.0, latency_torch_cpu_unreliable="busy")],
                         "latency_torch_cpu_ms")
    assert "yolov5n + b († unreliable)" in labels and "Pareto front" not in labels  # b is off the front
