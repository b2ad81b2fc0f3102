"""The summary statistics through the real trainer: yolov5n with its own backbone vs a timm MobileNetV3, 3 seeds
each, on a tiny synthetic set with a test split (best epoch chosen on val, scored on test); protocol.json, the
refusal of a changed protocol, and the warning for seeds that change nothing.

Two architectures rather than one with another lr: two epochs barely move the weights, so entries that share
the initialisation score identically and the comparison would be degenerate."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml
from scipy import stats as sps

from yololab.config import ConfigError
from yololab.experiments.run import dryrun
from yololab.experiments.compare import run_compare
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.report.writer import write_report
from yololab.experiments.plan.spec import load_spec, spec_from_mapping

SUMMARY_KEYS = ("map50_95_ci95", "delta_map50_95", "delta_map50_95_ci95", "p_value", "p_holm", "significant",
                "reference", "score_split")


def report_only(out):
    """What ``yololab compare --out OUT --report-only`` does: the folder's spec, loaded once, and its cells."""
    return write_report(load_spec(out / "experiment.yaml"), out)


@pytest.fixture(scope="module")
def data_with_test(tmp_path_factory):
    """A synthetic set whose test split is the val split of a second synthetic set (other images)."""
    from yololab.data import make_synthetic_dataset

    root = tmp_path_factory.mktemp("stats_data")
    data = make_synthetic_dataset(root / "a", num_train=8, num_val=6, img_size=64, seed=1)
    other = make_synthetic_dataset(root / "b", num_train=0, num_val=6, img_size=64, seed=2)
    cfg = yaml.safe_load(data.read_text())
    cfg["test"] = str(other.parent / "images" / "val")
    data.write_text(yaml.safe_dump(cfg))
    return data


def spec_values(data, **extra):
    values = {"name": "stats", "data": str(data), "models": ["yolov5n"], "seeds": [0, 1, 2], "epochs": 2,
              "imgsz": 64, "batch": 4, "workers": 0, "eval_batch": 8, "bootstrap": 300, "train": {"plots": False},
              "hyp": {"warmup_epochs": 0.0, "lr0": 0.02},
              "backbones": ["native", {"name": "timm:mobilenetv3_small_050", "label": "mnv3", "backbone_lr_mult": 0.5}]}
    values.update(extra)
    return values


@pytest.fixture(scope="module")
def compared(data_with_test, tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("stats_run")
    result = run_compare(spec_from_mapping(spec_values(data_with_test)), out, RunSettings(bench=False, progress=False))
    assert all(r.done for r in result.rows), [r.error for r in result.rows]
    return out, json.loads((out / "results.json").read_text())


def test_summary_rows_carry_interval_and_paired_comparison(compared):
    out, data = compared
    cells = [r for r in data["rows"] if r["row_type"] == "cell"]
    summary = {r["backbone"]: r for r in data["rows"] if r["row_type"] == "mean"}
    assert set(summary) == {"cspdarknet", "mnv3"}
    for row in [*cells, *summary.values()]:
        assert row["score_split"] == "test"
    assert all(r["num_score_images"] == 6 and r["selection_split"] == "val" for r in cells)
    for label, row in summary.items():
        assert all(key in row for key in SUMMARY_KEYS), label
        values = [r["map50_95"] for r in cells if r["backbone"] == label]
        assert len(values) == 3 and len(set(values)) == 3  # the seed reaches the real trainer
        expected = sps.t.interval(0.95, 2, loc=np.mean(values), scale=sps.sem(values))
        assert row["map50_95_ci95"] == pytest.approx(expected, abs=1e-12)
        assert row["reference"] == "cspdarknet"
    ref, other = summary["cspdarknet"], summary["mnv3"]
    assert ref["is_reference"] and ref["delta_map50_95"] is None and ref["p_value"] is None
    by_seed = {(r["backbone"], r["seed"]): r["map50_95"] for r in cells}
    paired = np.mean([by_seed[("mnv3", s)] - by_seed[("cspdarknet", s)] for s in (0, 1, 2)])
    assert other["delta_map50_95"] == pytest.approx(paired, abs=1e-4)  # pycocotools vs faster-coco-eval rounding
    lo, hi = other["delta_map50_95_ci95"]
    assert lo < hi and 0 < other["p_value"] <= 1  # two architectures: the replicates differ
    assert other["p_holm"] == other["p_value"]  # one comparison: Holm changes nothing
    assert other["significant"] == (other["p_holm"] < 0.05)
    assert other["delta_method"].startswith("paired t-test over seeds") and other["delta_ci_kind"] == "seeds and test set"
    # variance components: the seed spread of the paired difference and its test-set spread, both present
    assert other["delta_seed_sd"] > 0 and other["delta_image_sd"] > 0 and other["delta_df"] >= 2 - 1e-9
    assert other["seeds_needed"] is None or other["seeds_needed"] >= 2
    stats = data["statistics"]
    assert stats["bootstrap"] == {"split": "test", "images": 6, "resamples": 300} and stats["comparisons"] == 1
    assert stats["identical_seeds"] == []
    [component] = stats["variance_components"]
    assert component["backbone"] == "mnv3" and component["paired_seeds"] == 3
    assert component["delta_seed_sd"] == other["delta_seed_sd"] and component["delta_image_sd"] == other["delta_image_sd"]


def test_files_for_the_bootstrap_and_the_report_phase_is_deterministic(compared):
    out, data = compared
    gt = json.loads((out / "scoring" / "gt_test.json").read_text())
    assert len(gt["images"]) == 6
    for row in (r for r in data["rows"] if r["row_type"] == "cell"):
        detections = json.loads((out / row["cell_dir"] / "detections_test.json").read_text())
        assert {d["image_id"] for d in detections} <= {im["id"] for im in gt["images"]}
    report_only(out)  # --report-only: the same bootstrap draws
    again = json.loads((out / "results.json").read_text())
    pick = lambda d: [(r.get("delta_map50_95_ci95"), r.get("p_value")) for r in d["rows"]]  # noqa: E731
    assert pick(again) == pick(data)


def test_tables_and_html_show_the_comparison(compared):
    out, _ = compared
    md = (out / "results.md").read_text()
    summary = [ln for ln in md.splitlines() if ln.startswith("| yolov5n")][-2:]
    assert "Δ mAP50-95 vs ref [95% CI]" in md and summary[0].endswith("| ref |  |")
    assert "n.s." in summary[1] or "\\*" in summary[1]
    assert "scored on the test split (6 images)" in md and "paired t-test over seeds" in md
    assert "300 paired resamples of the 6 test images" in md
    assert "Seeds needed: mnv3 vs cspdarknet (yolov5n): seed spread of Δ" in md and "test-set spread" in md
    assert "Variance components of Δ" in md
    tex = (out / "results.tex").read_text()
    assert r"$\Delta$AP$_{50:95}$ vs ref" in tex and "mnv3" in tex and "Variance components of" in tex
    html = (out / "report.html").read_text()
    assert "Seeds needed: mnv3 vs cspdarknet" in html and "Variance components of Δ" in html
    assert "id='protocol'" in html and "Δ mAP50-95 vs ref" in html and "backbone_lr_mult" in html


def test_protocol_card_and_refusal(compared, data_with_test):
    out, _ = compared
    protocol = json.loads((out / "protocol.json").read_text())
    assert {k: v["images"] for k, v in protocol["data"]["splits"].items()} == {"train": 8, "val": 6, "test": 6}
    assert all(len(v["files_sha256"]) == 16 and v["labels"] > 0 for v in protocol["data"]["splits"].values())
    assert protocol["selection_split"] == "val" and protocol["score_split"] == "test"
    assert protocol["seeds"] == [0, 1, 2] and protocol["shared"]["epochs"] == 2
    assert set(protocol["differs_per_backbone"]) == {"name", "label", "backbone_lr_mult"}
    assert protocol["software"]["torch"] and "deterministic" in protocol["determinism"]
    with pytest.raises(ConfigError, match=r"score_split: 'test' -> 'val'"):
        run_compare(spec_from_mapping(spec_values(data_with_test, score_split="val")), out, RunSettings(bench=False,
                    report=False))
    with pytest.raises(ConfigError, match=r"checkpoint: 'best' -> 'last'"):
        run_compare(spec_from_mapping(spec_values(data_with_test, checkpoint="last")), out, RunSettings(bench=False,
                    report=False))


def test_seeds_that_change_nothing_are_reported(data_with_test, tmp_path):
    def seedless(cfg):  # a trainer that ignores the seed: every seed gives the same model
        return dryrun.train(dataclasses.replace(cfg, seed=0))

    values = spec_values(data_with_test, seeds=[0, 1], backbones=["native"])
    run_compare(spec_from_mapping(values), tmp_path / "seedless",
                RunSettings(train_fn=seedless, bench=False, progress=False))
    data = json.loads((tmp_path / "seedless" / "results.json").read_text())
    assert data["statistics"]["identical_seeds"] == [{"model": "yolov5n", "backbone": "cspdarknet", "seeds": [[0, 1]]}]
    assert "seed is not reaching" in (tmp_path / "seedless" / "results.md").read_text().split("|")[0]  # at the top
    assert 'class="warning"' in (tmp_path / "seedless" / "report.html").read_text()

    run_compare(spec_from_mapping(values), tmp_path / "seeded",
                RunSettings(train_fn=dryrun.train, bench=False, progress=False))
    data = json.loads((tmp_path / "seeded" / "results.json").read_text())
    assert data["statistics"]["identical_seeds"] == []  # untrained models: the same mAP, other detections


def test_each_cell_has_its_error_analysis_and_the_report_overlays_them(compared):
    """Issue 10: every cell's confusion matrix, PR/F1 curves and TIDE breakdown; the report overlays
    the PR curves per model, puts the error breakdowns side by side and lists per-class AP by name."""
    out, results = compared
    cells = [r for r in results["rows"] if r.get("row_type", "cell") == "cell" and r["status"] == "done"]
    assert len(cells) == 6
    for row in cells:
        folder = out / row["cell_dir"] / "analysis"
        for name in ("confusion_matrix.csv", "pr_curve.json", "f1_curve.csv", "errors.json"):
            assert (folder / name).stat().st_size > 0, (row["cell_id"], name)
        assert set(row["analysis"]["errors"]) == {"cls", "loc", "both", "dupe", "bkg", "miss"}
        assert all(v >= 0 for v in row["analysis"]["errors"].values())
    for stem in ("pr_overlay_yolov5n", "errors_side_by_side"):
        assert (out / "plots" / f"{stem}.png").stat().st_size > 0 and (out / "plots" / f"{stem}.svg").is_file()
    html = (out / "report.html").read_text()
    assert "Precision-recall, yolov5n" in html and "Error breakdown (TIDE)" in html
    names = {n for r in cells for n in r["per_class"]}
    assert "Per-class AP50-95 (%)" in html and all(f"<td>{n}</td>" in html for n in names)


def test_report_only_does_no_coco_matching(compared, monkeypatch):
    """Issue 17: each cell's per-image matches are saved when it is scored; the report re-weights them
    and never runs pycocotools (made unimportable here); a folder without them is matched once."""
    import sys

    out, data = compared
    cells = [r for r in data["rows"] if r["row_type"] == "cell"]
    assert all((out / r["cell_dir"] / r["matches_file"]).is_file() for r in cells)
    pick = lambda d: [(r.get("delta_map50_95_ci95"), r.get("p_value")) for r in d["rows"]]  # noqa: E731
    with monkeypatch.context() as m:
        for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval", "pycocotools.mask"):
            m.setitem(sys.modules, name, None)
        report_only(out)
    assert pick(json.loads((out / "results.json").read_text())) == pick(data)
    old_style = out / cells[0]["cell_dir"] / cells[0]["matches_file"]
    old_style.unlink()  # a folder made before matches were saved
    report_only(out)
    assert old_style.is_file() and pick(json.loads((out / "results.json").read_text())) == pick(data)
