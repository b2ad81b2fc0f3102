"""One comparison over several data sets: ``datasets:`` checked once, every entry x seed on every data
set, the pooled table (LaTeX compiled), forest plots and headline, and --report-only without COCO work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import missing
from yololab.config import ConfigError
from yololab.experiments.across.pooling import pool_datasets
from yololab.experiments.across.run import run_across
from yololab.experiments.across.spec import DatasetEntry, across_from_mapping
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.results.records import Comparison, Entry, Estimate, SummaryRow
from yololab.experiments.results.records_io import results_json


def _values(datasets, **extra):
    values = {"name": "across", "models": ["yolov5n"], "seeds": [0, 1], "epochs": 2, "imgsz": 64, "batch": 4,
              "workers": 0, "eval_batch": 8, "bootstrap": 200, "train": {"plots": False},
              "hyp": {"warmup_epochs": 0.0, "lr0": 0.02}, "latency_backends": ["torch"], "latency_runs": 2,
              "latency_warmup": 1,
              "backbones": ["native", {"name": "timm:mobilenetv3_small_050", "label": "mnv3"}],
              "datasets": datasets}
    values.update(extra)
    return values


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    from yololab.data import make_synthetic_dataset

    root = tmp_path_factory.mktemp("across_data")
    return [{"name": "shapes-a", "data": str(make_synthetic_dataset(root / "a", num_train=8, num_val=6, img_size=64, seed=1))},
            {"name": "shapes-b", "data": str(make_synthetic_dataset(root / "b", num_train=8, num_val=6, img_size=64, seed=2)),
             "epochs": 3}]


def test_datasets_are_checked_once_with_clear_errors(two_sets):
    spec = across_from_mapping(_values(two_sets))
    assert [d.name for d in spec.datasets] == ["shapes-a", "shapes-b"]
    assert [s.epochs for s in spec.specs] == [2, 3] and spec.datasets[1].stated() == "epochs 3"
    assert spec.specs[1].latency_backends == () and spec.specs[0].latency_backends == ("torch",)
    assert across_from_mapping({"data": "x.yaml"}) is None
    bad = [({"datasets": []}, "non-empty list"),
           ({"datasets": [{"name": "a"}]}, "'data' must be"),
           ({"datasets": [{"name": "a b", "data": "x"}]}, "'name' must be"),
           ({"datasets": [{"name": "a", "data": "x", "batch": 8}]}, "unknown key"),
           ({"datasets": two_sets + [two_sets[0]]}, "more than once"),
           ({"data": "x.yaml", "datasets": two_sets}, "not both")]
    for values, match in bad:
        with pytest.raises(ConfigError, match=match):
            across_from_mapping({**_values(two_sets), **values})


@pytest.fixture(scope="module")
def ran(two_sets, tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("across_run")
    result = run_across(across_from_mapping(_values(two_sets)), out, RunSettings(progress=False))
    assert not result.failed
    return out, result


def test_every_entry_and_seed_runs_on_every_data_set(ran):
    out, result = ran
    assert [name for name, _ in result.per_dataset] == ["shapes-a", "shapes-b"]
    for name, compared in result.per_dataset:
        assert len(compared.rows) == 4 and all(r.done for r in compared.rows)
        assert (out / "datasets" / name / "results.json").is_file()
    # latency once per entry: timed on the first data set only
    assert list((out / "datasets" / "shapes-a" / "cells").glob("*/bench.json"))
    assert not list((out / "datasets" / "shapes-b" / "cells").glob("*/bench.json"))
    card = json.loads((out / "protocol.json").read_text())
    assert [d["name"] for d in card["datasets"]] == ["shapes-a", "shapes-b"]
    assert all(d["fingerprint"]["splits"] for d in card["datasets"])


def test_pooled_outputs_written(ran):
    out, _ = ran
    across = json.loads((out / "across.json").read_text())
    row = next(r for r in across["rows"] if r["backbone"] == "mnv3")
    assert set(row["datasets"]) == {"shapes-a", "shapes-b"} and row["pooled"]["n_datasets"] == 2
    assert across["headline"][0].startswith("yolov5n mnv3 vs cspdarknet across 2 data sets:")
    md = (out / "across.md").read_text()
    assert "shapes-a mAP50-95" in md and "Set per data set: shapes-b: epochs 3." in md
    assert "datasets/shapes-a/report.html" in (out / "report.html").read_text()


def _compile(tex: str, tmp_path):
    if shutil.which("pdflatex") is None:
        missing("pdflatex is not installed (apt-get install -y --no-install-recommends texlive-latex-base "
                "texlive-latex-recommended)")
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
                                        + tex + "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def test_grouped_latex_table_compiles(ran, tmp_path):
    out, _ = ran
    _compile((out / "across.tex").read_text(), tmp_path)


def test_two_data_sets_give_headline_forest_plot_and_table(tmp_path):
    """Two data sets whose per-data-set tests agree: the pooled verdict first, wins / ties / losses, the
    forest plot, and a LaTeX table that compiles."""
    from yololab.experiments.across.spec import AcrossSpec
    from yololab.experiments.across.writer import write_across_report

    datasets = (DatasetEntry("set-a", "x"), DatasetEntry("set_b", "y", (("imgsz", 320),)))
    for i, d in enumerate(datasets):
        _write_table(tmp_path / "datasets" / d.name / "results.json", {"a": 0.30 + 0.02 * i, "b": 0.33 + 0.02 * i})
    paths = write_across_report(AcrossSpec("two", datasets, (), {}), tmp_path)
    across = json.loads(paths["json"].read_text())
    sentence = across["headline"][0]
    assert sentence.startswith("yolov5n b vs a across 2 data sets: +3.0 points [") and "wins 2 / ties 0 / losses 0" in sentence
    assert "t with 1 df" in sentence
    assert paths["forest_b"].is_file() and paths["forest_b"].stat().st_size > 1000
    assert "Set per data set: set_b: imgsz 320." in paths["md"].read_text()
    _compile(paths["tex"].read_text(), tmp_path)


def test_report_only_recomputes_without_coco_matching(ran, monkeypatch):
    from yololab.cli import main

    out, _ = ran
    before = json.loads((out / "across.json").read_text())
    (out / "across.json").unlink()
    for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval", "pycocotools.mask"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["compare", "--out", str(out), "--report-only"]) == 0
    assert json.loads((out / "across.json").read_text()) == before


def _write_table(path, scores: dict[str, float], reference: str = "a"):
    rows = []
    for label, score in scores.items():
        is_ref = label == reference
        comparison = Comparison(reference=reference, is_reference=is_ref) if is_ref else Comparison(
            reference=reference, delta=score - scores[reference], delta_ci95=(score - scores[reference] - 0.01,
                                                                              score - scores[reference] + 0.01),
            ci_kind="seeds and test set", p_value=0.01, paired_seeds=3, seed_sd=0.006, image_sd=0.003, df=4.0,
            method="test")
        rows.append(SummaryRow(Entry("yolov5n", label), (0, 1, 2), accuracy=_acc(score), comparison=comparison))
    path.parent.mkdir(parents=True)
    path.write_text(results_json(rows))


def _acc(score):
    from yololab.experiments.results.records import Accuracy

    return Accuracy(map50_95=Estimate(score, 0.01, (score - 0.01, score + 0.01)))


def test_friedman_with_six_data_sets_and_three_entries(tmp_path):
    datasets = [DatasetEntry(f"d{i}", "x") for i in range(6)]
    for i, d in enumerate(datasets):
        _write_table(tmp_path / "datasets" / d.name / "results.json", {"a": 0.30 + 0.01 * i, "b": 0.33 + 0.01 * i,
                                                                       "c": 0.25 + 0.01 * i})
    table = pool_datasets(datasets, tmp_path)
    (ranks,) = table.ranks
    assert ranks.labels == ("a", "b", "c") and ranks.mean_ranks == (2.0, 1.0, 3.0)
    assert ranks.p_value < 0.01  # identical rankings on 6 data sets
    b = next(r for r in table.rows if r.row.entry.label == "b")
    assert b.pooled.delta == pytest.approx(0.03) and b.significant and (b.pooled.wins, b.pooled.losses) == (6, 0)
    # below 6 data sets: no rank test
    assert pool_datasets(datasets[:5], tmp_path).ranks == ()
    from yololab.experiments.across.spec import AcrossSpec
    from yololab.experiments.across.writer import write_across_report

    paths = write_across_report(AcrossSpec("six", tuple(datasets), (), {}), tmp_path)
    assert paths["ranks_yolov5n"].is_file() and "critical-difference" in paths["html"].read_text()
    assert "Friedman over 6 data sets" in paths["md"].read_text()


def test_a_missing_data_set_result_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="data set 'd0' has no results"):
        pool_datasets([DatasetEntry("d0", "x")], tmp_path)


def test_a_one_data_set_folder_is_not_taken_over(two_sets, tmp_path):
    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump({"name": "one", "data": "x.yaml"}))
    with pytest.raises(ConfigError, match="holds a comparison over one data set"):
        run_across(across_from_mapping(_values(two_sets)), tmp_path, RunSettings(progress=False))
    assert yaml.safe_load((tmp_path / "experiment.yaml").read_text())["name"] == "one"
