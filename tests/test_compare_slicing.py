"""``slicing:`` in an experiment file (issue 25, part 4): every cell scored by sliced inference, the protocol
card and the table's note say so, and ``ablation: true`` adds whole-image rows of the same checkpoints with
the paired test of sliced vs whole. The dry-run trainer (untrained models) on small synthetic canvases."""

from __future__ import annotations

import json
import sys

import pytest

from yololab.config import ConfigError
from yololab.experiments.compare import run_compare
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import load_spec, spec_from_mapping
from yololab.experiments.report.writer import write_report
from yololab.experiments.run import dryrun

SLICING = {"size": 128, "overlap": 0.25, "ablation": True}


@pytest.fixture(scope="module")
def canvases(tmp_path_factory):
    from yololab.data.synthetic import make_large_synthetic_dataset

    return make_large_synthetic_dataset(tmp_path_factory.mktemp("canvases"), num_train=1, num_val=4, canvas=256,
                                        objects=24, radius=(4.0, 14.0), seed=3)


def values(data, **extra):
    return {"name": "sliced", "data": str(data), "models": ["yolov5n"], "backbones": ["native"], "seeds": [0, 1],
            "epochs": 1, "imgsz": 64, "batch": 2, "workers": 0, "eval_batch": 8, "bootstrap": 200,
            "latency_backends": ["torch"], "slicing": SLICING, "max_det": 300, **extra}


@pytest.fixture(scope="module")
def compared(canvases, tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("sliced_run")
    run = run_compare(spec_from_mapping(values(canvases)), out,
                      RunSettings(train_fn=dryrun.train, bench=False, progress=False))
    assert all(r.done for r in run.rows), [r.error for r in run.rows]
    return out, json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("slicing, match", [
    ({"overlap": 0.2}, r"slicing: 'size' .* is required"),
    ({"size": 16}, r"slicing: size must be an integer of at least the model's stride \(32 px\), got 16"),
    ({"size": 640, "overlap": 1.0}, r"slicing: overlap is a fraction of the slice in \[0, 1\), got 1.0"),
    ({"size": 640, "merge": "wbf"}, r"slicing: merge must be one of greedynmm, nmm, nms, got 'wbf'"),
    ({"size": 640, "merge_metric": "giou"}, r"slicing: merge_metric must be one of ios, iou"),
    ({"size": 640, "merge_threshold": 2}, r"slicing: merge_threshold must be in \[0, 1\]"),
    ({"size": 640, "merg": "nms"}, r"slicing: unknown key\(s\) 'merg'"),
    ({"size": "640"}, r"slicing: size: expected"),
])
def test_bad_slicing_is_one_sentence_naming_the_key(canvases, slicing, match):
    with pytest.raises(ConfigError, match=match):
        spec_from_mapping(values(canvases, slicing=slicing))


def test_slicing_defaults_are_vals_and_max_det_is_checked(canvases):
    from yololab.eval.slicing import SliceSettings

    spec = spec_from_mapping(values(canvases, slicing={"size": 640}))
    assert spec.slicing.settings() == SliceSettings.for_val(640)
    assert spec.to_dict()["slicing"]["merge"] == "nms" and not spec.slicing.ablation
    assert spec_from_mapping(values(canvases, slicing=None)).slicing is None
    with pytest.raises(ConfigError, match=r"max_det .* must be an integer >= 1, got 0"):
        spec_from_mapping(values(canvases, max_det=0))


def test_sliced_rows_whole_image_rows_and_the_paired_test(compared):
    out, data = compared
    cells = [r for r in data["rows"] if r["row_type"] == "cell"]
    assert [(r["backbone"], r["scoring"], r["seed"]) for r in cells] == [
        ("cspdarknet", "sliced", 0), ("cspdarknet (whole image)", "whole image", 0),
        ("cspdarknet", "sliced", 1), ("cspdarknet (whole image)", "whole image", 1)]
    sliced, whole = cells[0], cells[1]
    assert sliced["cell_dir"] == whole["cell_dir"] and whole["reference"] == "cspdarknet"
    assert (sliced["matches_file"], whole["matches_file"]) == ("matches_val.npz", "matches_val_whole.npz")
    assert sliced["detections_sha256"] != whole["detections_sha256"]  # scored two ways
    assert "map_tiny" in sliced  # the canvases hold objects under 16^2 px
    means = {r["backbone"]: r for r in data["rows"] if r["row_type"] == "mean"}
    assert means["cspdarknet (whole image)"]["reference"] == "cspdarknet"
    test = means["cspdarknet (whole image)"]
    assert test["delta_map50_95"] == pytest.approx(
        sum(w["map50_95"] - s["map50_95"] for s, w in zip(cells[::2], cells[1::2])) / 2)
    assert test["delta_method"]  # untrained models score 0 both ways: the paired test is the next test's
    # the protocol card records the settings; the table states them
    card = json.loads((out / "protocol.json").read_text())
    assert card["shared"]["eval"]["slicing"] == {"size": 128, "overlap": 0.25, "merge": "nms", "merge_metric": "iou",
                                                 "merge_threshold": 0.5, "full_pass": True, "ablation": True}
    assert card["shared"]["eval"]["coco_max_det"] == 300
    md = (out / "results.md").read_text()
    main = md.split("## Full tables")[0]
    assert "Sliced inference (SAHI's method): each scoring image cut into 128 x 128 px slices" in main
    assert "| cspdarknet (whole image) |" in main and "COCO scores up to 300 detections per image" in main
    assert "APt" in md.split("## Full tables")[1]  # the full tables show the tiny bin
    assert "Sliced inference" in (out / "results.tex").read_text()


def test_a_changed_slicing_setting_is_refused(compared, canvases):
    out, _ = compared
    spec = spec_from_mapping(values(canvases, slicing={**SLICING, "size": 96}))
    with pytest.raises(ConfigError, match=r"shared.eval.slicing.size: 128 -> 96"):
        run_compare(spec, out, RunSettings(train_fn=dryrun.train, bench=False, progress=False))


def test_report_only_does_no_coco_matching(compared, monkeypatch):
    """The report re-weights the saved matches of both row kinds: the evaluator and pycocotools never run."""
    import yololab.eval.bootstrap as bootstrap
    import yololab.experiments.score.metrics as metrics

    out, data = compared

    def refuse(*args, **kwargs):
        raise AssertionError("the report scored or matched again")

    pick = lambda d: [(r["cell_id"], r.get("map50_95"), r.get("p_value"), r.get("delta_map50_95_ci95"))  # noqa: E731
                      for r in d["rows"]]
    with monkeypatch.context() as m:
        m.setattr(metrics, "evaluate_cell", refuse)
        m.setattr(bootstrap.ImageMatches, "from_coco", classmethod(refuse))
        for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval", "pycocotools.mask"):
            m.setitem(sys.modules, name, None)
        write_report(load_spec(out / "experiment.yaml"), out, chosen=["model", "backbone", "map50_95", "map_tiny",
                                                                       "map_small", "delta"])
    again = json.loads((out / "results.json").read_text())
    assert pick(again) == pick(data)
    main = (out / "results.md").read_text().split("## Full tables")[0]
    assert "| APt | APs |" in main


def test_ablation_on_real_photos_gives_the_same_checkpoint_paired_test(coco128_mini, yolov5n_pt, tmp_path, one_thread):
    """Upstream yolov5n as every cell's checkpoint, 16 coco128 photos scored at 128 px whole or in 256 px
    slices (which cut these photos' large objects: the sliced mAP is the lower one here), and with one seed
    the Δ of the whole-image row gets the paired image-bootstrap test of the same checkpoint (interval, p)."""
    from yololab.models.checkpoints import load_model, save_model
    from yololab.train.contract import TrainSummary

    def upstream(cfg, on_epoch_end=None):
        from pathlib import Path

        weights = Path(cfg.out) / "weights"
        model = load_model(yolov5n_pt)
        for name in ("last.pt", "best.pt"):
            save_model(model, weights / name, epoch=0)
        return TrainSummary(out=cfg.out, last=str(weights / "last.pt"), best=str(weights / "best.pt"),
                            best_map50_95=0.0, epochs_run=1)

    spec = spec_from_mapping(values(coco128_mini, seeds=[0], imgsz=128, bootstrap=300,
                                    slicing={"size": 256, "ablation": True}))
    run_compare(spec, tmp_path, RunSettings(train_fn=upstream, bench=False, progress=False))
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["rows"]
    said = [h for h in results["statistics"]["headline"] if h.startswith("yolov5n cspdarknet (whole image) vs cspdarknet")]
    assert len(said) == 1 and "no test" not in said[0]
    cells = {r["backbone"]: r for r in rows if r["row_type"] == "cell"}
    sliced, whole_cell = cells["cspdarknet"], cells["cspdarknet (whole image)"]
    assert sliced["map50_95"] > 0 and whole_cell["map50_95"] > 0 and sliced["map_small"] != whole_cell["map_small"]
    whole = next(r for r in rows if r["row_type"] == "mean" and r["backbone"] == "cspdarknet (whole image)")
    lo, hi = whole["delta_map50_95_ci95"]
    assert whole["delta_map50_95"] == pytest.approx(whole_cell["map50_95"] - sliced["map50_95"])
    assert lo < whole["delta_map50_95"] < hi and 0 <= whole["p_value"] <= 1 and whole["p_holm"] is not None
    assert whole["delta_ci_kind"] == "test set" and whole["significant"] == (whole["p_holm"] < 0.05)
    assert whole["delta_method"].startswith("one checkpoint scored two ways on the same images")
