"""Report tables from hand-made rows: one row per cell (+ mean rows), best value bold, conventions."""

from __future__ import annotations

import csv
import json

import pytest
from scipy import stats

from yololab.experiments.report.aggregate import aggregate_rows
from yololab.experiments.report.plots import pareto_front
from yololab.experiments.results.records_io import cell_from_flat
from yololab.experiments.report.writer import write_report
from yololab.experiments.plan.spec import spec_from_mapping
from yololab.experiments.report.tables import markdown_table, tex_escape


def make_row(model, backbone, seed, map50_95, gflops, latency, status="done", **extra):
    """A cell row in its flat form (as results.json holds it)."""
    row = {"row_type": "cell", "cell_id": f"{model}_{backbone}_s{seed}".replace(":", "-"), "model": model,
           "backbone": backbone, "backbone_name": backbone, "seed": seed, "init": "scratch", "freeze": 0,
           "backbone_lr_mult": 1.0, "status": status, "cell_dir": f"cells/{model}_{backbone}_s{seed}".replace(":", "-")}
    if status == "done":
        row.update(params=1_767_976 if backbone == "cspdarknet" else 12_000_000, backbone_params=880_000,
                   gflops=gflops, map50_95=map50_95, map50=map50_95 + 0.2, map75=map50_95, map_small=None,
                   map_medium=map50_95, map_large=map50_95 / 2, train_seconds=120.0 + seed, peak_memory_mb=900.0,
                   latency_torch_cpu_ms=latency, fps_torch_cpu=1000 / latency,
                   latency_torch_cpu_device="Test CPU (2 cores)", latency_onnxruntime_cpu_ms=latency / 2,
                   latency_onnxruntime_cpu_device="Test CPU (2 cores)",
                   per_class={"circle": {"ap50_95": map50_95, "ap50": 0.9, "instances": 5},
                              "square": {"ap50_95": map50_95 / 2, "ap50": 0.5, "instances": 4}})
    row.update(extra)
    return row


def records(rows):
    """The CellResults of flat cell rows."""
    return [cell_from_flat(r) for r in rows]


def report_spec(values=None):
    return spec_from_mapping(values or SPEC)


ROWS = [make_row("yolov5n", "cspdarknet", 0, 0.40, 0.17, 10.0), make_row("yolov5n", "cspdarknet", 1, 0.42, 0.17, 11.0),
        make_row("yolov5n", "timm:resnet_18", 0, 0.50, 1.25, 30.0), make_row("yolov5n", "timm:resnet_18", 1, 0.46, 1.25, 31.0),
        make_row("yolov5n", "hgnetv2_b0", 0, None, None, None, status="failed", error="RuntimeError: boom")]
SPEC = {"name": "unit_test", "data": "/x/shapes/data.yaml", "imgsz": 128, "eval_imgsz": 128, "epochs": 3, "batch": 8,
        "seeds": [0, 1], "latency_runs": 20, "latency_warmup": 5}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    return tmp_path, write_report(report_spec(), tmp_path, records(ROWS))


def test_aggregate_mean_std_and_count():
    cells = records(ROWS)
    mean = {r.entry.label: r for r in aggregate_rows(cells)}
    assert set(mean) == {"cspdarknet", "timm:resnet_18"}  # the failed cell has nothing to average
    r = mean["timm:resnet_18"]
    assert r.n_seeds == 2 and r.accuracy.map50_95.mean == pytest.approx(0.48)
    assert r.accuracy.map50_95.std == pytest.approx(0.028284, 1e-4)
    assert r.accuracy.per_class["circle"].ap50_95 == pytest.approx(0.48)
    assert aggregate_rows(cells[:1])[0].accuracy.map50_95.std is None  # one seed: no std
    assert r.latency["torch_cpu"].median_ms.mean == pytest.approx(30.5)


def test_csv_and_json_have_one_row_per_cell_plus_mean_rows(report):
    out, paths = report
    rows = list(csv.DictReader(open(paths["csv"])))
    assert [r["row_type"] for r in rows] == ["cell"] * 5 + ["mean"] * 2
    assert rows[4]["status"] == "failed" and rows[4]["error"] == "RuntimeError: boom"
    data = json.loads(paths["json"].read_text())
    assert [r["row_type"] for r in data["rows"]].count("cell") == 5
    assert data["rows"][0]["per_class"]["circle"]["ap50_95"] == 0.40
    per_class = list(csv.DictReader(open(paths["per_class"])))
    assert {(r["cell_id"], r["class"]) for r in per_class} >= {("yolov5n_cspdarknet_s0", "square")}


def test_markdown_rows_and_bold_best(report):
    out, paths = report
    md = paths["md"].read_text()
    lines = [ln for ln in md.splitlines() if ln.startswith("| yolov5n")]
    assert len(lines) == 2 + 5 + 2  # the main table, then the per-cell table and the summary over the 2 seeds
    lines = lines[2:]
    assert "| **50.0** |" in lines[2]  # best mAP50-95 (in %) of the cells
    half = 100 * stats.t.ppf(0.975, 1) * 0.02828427 / 2 ** 0.5  # t-interval half-width of 0.50, 0.46
    assert f"48.0 ± {half:.1f}" in lines[6] and "failed" in lines[4] and "RuntimeError: boom" in md
    assert "| 10.5 ± 0.7 |" in lines[5].replace("**", "")  # latency: ± std, not an interval
    assert lines[5].endswith("| ref |") and lines[6].endswith("| +7.0 |")  # no detections: no interval, no p
    assert "| p (Holm) |" not in md and "Left out for having no value in any row: APs, p (Holm)." in md
    assert "APs" not in md.split("## Full tables")[1].split("\n")[4]  # APs: no small objects -> no column
    assert "Left out for having no value in any row: APs." in md


def test_latex_booktabs_best_in_bold_and_conventions_in_caption(report):
    out, paths = report
    main = paths["tex"].read_text()
    for needle in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", r"\caption{", r"\label{tab:unit-test}"):
        assert needle in main
    tex = paths["tex_full"].read_text()
    for needle in (r"\begin{landscape}", r"\begin{longtable}", r"\endhead", r"\label{tab:unit-test-cell-accuracy}",
                   r"\label{tab:unit-test-cell-cost}", r"\label{tab:unit-test-mean-accuracy}"):
        assert needle in tex

    def cell_rows(kind: str) -> list[str]:
        body = tex.split(rf"\label{{tab:unit-test-cell-{kind}}}")[1].split(r"\endlastfoot")[1].split(r"\end{longtable}")[0]
        return [ln for ln in body.splitlines() if ln.startswith("yolov5n")]

    accuracy, cost = cell_rows("accuracy"), cell_rows("cost")
    assert len(accuracy) == len(cost) == 5
    assert r"\textbf{50.0}" in accuracy[2] and r"\textbf{0.17}" in cost[0] and r"\textbf{10.0}" in cost[0]
    assert r"\textbf{" not in accuracy[3].split("&")[4]  # 46.0 is not the best mAP
    assert r"timm:resnet\_18" in accuracy[2]  # escaped
    caption = tex[tex.rindex(r"\caption{"):]
    for needle in ("multiply-adds", "fused", "batch 1", "median of 20 runs after 5 warm-up", "Test CPU (2 cores)",
                   r"\%", "COCO"):
        assert needle in caption, needle
    assert "resizebox" not in main + tex and main.count("Best value per column in bold") == 1


def test_nothing_is_bold_when_all_equal():
    rows = [make_row("yolov5n", "a", 0, 0.3, 0.2, 5.0), make_row("yolov5n", "b", 0, 0.3, 0.2, 5.0)]
    assert "**" not in markdown_table(records(rows))


def test_tex_escape_and_pareto_front():
    assert tex_escape("a_b & 50% #1") == r"a\_b \& 50\% \#1"
    # (cost, accuracy): the front keeps points that no other point beats on both
    points = [(1.0, 0.3), (2.0, 0.5), (1.5, 0.2), (3.0, 0.45), (4.0, 0.6)]
    assert pareto_front(points) == [0, 1, 4]


def test_plots_written_as_png_and_svg(report):
    out, paths = report
    names = {p.name for p in (out / "plots").iterdir()}
    for stem in ("map_vs_gflops", "map_vs_latency_torch_cpu_ms", "map_vs_latency_onnxruntime_cpu_ms", "per_class_ap"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem
