"""``robustness:`` in a comparison (issue 28, part 3): the spec's checks, a tiny dry-run compare scored under
two corruptions at two severities (mPC, rPC, Δ mPC and its test), ``--report-only`` recomputing them from the
saved matches without COCO matching, the protocol card refusing other corruptions, and a simulation of the
Δ mPC test's false-positive rate under the null."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from fixtures import make_tiny_data, tiny_spec
from yololab.config import ConfigError
from yololab.data.corruptions import BENCHMARK
from yololab.experiments.compare import run_compare
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.spec import load_spec
from yololab.experiments.report.writer import write_report
from yololab.experiments.run import dryrun

ROBUSTNESS = {"corruptions": ["gaussian_noise", "defocus_blur"], "severities": [1, 3]}
DELTA_KEYS = ("delta_mpc", "delta_mpc_ci95", "delta_mpc_p_value", "delta_mpc_p_holm", "delta_mpc_significant",
              "delta_mpc_method", "delta_mpc_image_sd")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("robust_data"), test_split=True)


def test_spec_reads_and_checks_robustness(data):
    spec = tiny_spec(data, robustness=ROBUSTNESS)
    assert spec.robustness.names == ("gaussian_noise", "defocus_blur") and spec.robustness.severities == (1, 3)
    assert spec.robustness.passes == 4 and spec.robustness.seed == 0
    every = tiny_spec(data, robustness={})
    assert every.robustness.names == BENCHMARK and every.robustness.severities == (1, 3, 5)
    assert "45 extra scoring pass(es) per cell, 90 for 2 cell(s)" in every.robustness.cost_line(2)
    assert tiny_spec(data).robustness is None
    assert tiny_spec(data, robustness=ROBUSTNESS).to_dict()["robustness"]["corruptions"] == list(ROBUSTNESS["corruptions"])
    for bad, match in (({"corruption": "all"}, r"robustness: unknown key\(s\) 'corruption'"),
                       ({"corruptions": ["gaussian_nois"]}, r"robustness: corruptions: 'gaussian_nois' is not"),
                       ({"corruptions": "some"}, r"robustness: corruptions must be 'all'"),
                       ({"corruptions": []}, r"robustness: corruptions lists none"),
                       ({"severities": [0, 3]}, r"robustness: severities must be distinct integers from 1 to 5"),
                       ({"severities": [6]}, r"robustness: severities must be"),
                       ({"severities": [1, 1]}, r"robustness: severities must be distinct"),
                       ({"severities": ["3"]}, r"robustness: severities\[0\]: expected int"),
                       ({"seed": -1}, r"robustness: seed must be a non-negative integer"),
                       ("all", r"robustness: expected a mapping")):
        with pytest.raises(ConfigError, match=match):
            tiny_spec(data, robustness=bad)


@pytest.fixture(scope="module")
def compared(data, tmp_path_factory, one_thread):
    """Two entries (yolov5n's own backbone and a ResNet-18) x two seeds, untrained (dry run), scored clean and
    under gaussian_noise and defocus_blur at severities 1 and 3."""
    out = tmp_path_factory.mktemp("robust_run")
    spec = tiny_spec(data, seeds=[0, 1], bootstrap=200, robustness=ROBUSTNESS)
    result = run_compare(spec, out, RunSettings(train_fn=dryrun.train, bench=False, progress=False))
    assert all(r.done for r in result.rows), [r.error for r in result.rows]
    return out, json.loads((out / "results.json").read_text())


def _rows(data, kind):
    return [r for r in data["rows"] if r["row_type"] == kind]


def test_compare_writes_mpc_rpc_and_the_delta_mpc_test(compared):
    out, data = compared
    cells = _rows(data, "cell")
    for r in cells:
        table = r["corruption_ap"]
        assert set(table) == {"gaussian_noise", "defocus_blur"} and all(set(v) == {"1", "3"} for v in table.values())
        assert r["mpc"] == pytest.approx(np.mean([v for row in table.values() for v in row.values()]), abs=1e-12)
        assert r["rpc"] == (pytest.approx(r["mpc"] / r["map50_95"]) if r["map50_95"] else None)
        for name in table:  # the per-image statistics of every pass, beside the clean ones
            for s in (1, 3):
                assert (out / r["cell_dir"] / f"matches_test_{name}_s{s}.npz").is_file()
        images = [p for p in (out / r["cell_dir"]).rglob("*") if p.suffix.lower() in (".jpg", ".png", ".bmp")
                  and "analysis" not in p.parts]
        assert not images  # corrupted images live only in the loader
    mean = {r["backbone"]: r for r in _rows(data, "mean")}
    ref, other = mean["cspdarknet"], mean["timm:resnet18"]
    for row in (ref, other):
        assert "mpc" in row and "rpc" in row and "mpc_ci95" in row
        values = [r["mpc"] for r in cells if r["backbone"] == row["backbone"]]
        assert row["mpc"] == pytest.approx(np.mean(values))
    assert ref["is_reference"] and "delta_mpc" not in ref
    assert all(k in other for k in DELTA_KEYS), sorted(other)
    by_seed = {(r["backbone"], r["seed"]): r["mpc"] for r in cells}
    paired = np.mean([by_seed[("timm:resnet18", s)] - by_seed[("cspdarknet", s)] for s in (0, 1)])
    assert other["delta_mpc"] == pytest.approx(paired, abs=1e-4)  # saved matches vs the scorer's own mAP
    assert other["delta_mpc_method"].startswith("paired t-test over seeds") and 0 < other["delta_mpc_p_value"] <= 1
    assert other["delta_mpc_p_holm"] == other["delta_mpc_p_value"]  # one Δ mPC test
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["shared"]["robustness"] == {"corruptions": ["gaussian_noise", "defocus_blur"],
                                                "severities": [1, 3], "seed": 0}
    html = (out / "report.html").read_text()
    assert "Robustness: mAP50-95 per corruption" in html and "Robustness: mAP50-95 vs severity" in html
    assert "gaussian_noise, defocus_blur at severities 1, 3, seed 0" in html
    assert (out / "plots" / "corruption_heatmap.svg").is_file() and (out / "plots" / "severity_curves.png").is_file()
    md = (out / "results.md").read_text()
    assert "Δ mPC vs ref" in md and "mPC: mAP50-95 averaged over 2 corruption(s) (gaussian_noise, defocus_blur)" in md


def test_report_only_recomputes_without_coco_matching(compared, monkeypatch):
    """The Δ mPC test re-weights the saved matches: pycocotools unimportable and ImageMatches.from_coco
    raising change nothing."""
    from yololab.eval.bootstrap import ImageMatches

    out, data = compared
    keys = ("mpc", "rpc", "mpc_ci95", *DELTA_KEYS)
    pick = lambda d: [{k: r.get(k) for k in keys} for r in d["rows"]]  # noqa: E731

    def refuse(*args, **kwargs):
        raise AssertionError("COCO matching in --report-only")

    with monkeypatch.context() as m:
        for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval", "pycocotools.mask"):
            m.setitem(sys.modules, name, None)
        m.setattr(ImageMatches, "from_coco", classmethod(refuse))
        write_report(load_spec(out / "experiment.yaml"), out)
    assert pick(json.loads((out / "results.json").read_text())) == pick(data)


def test_other_corruptions_are_refused_in_the_same_folder(compared, data):
    out, _ = compared
    spec = tiny_spec(data, seeds=[0, 1], bootstrap=200, robustness={**ROBUSTNESS, "severities": [1]})
    with pytest.raises(ConfigError, match=r"shared\.robustness\.severities: \[1, 3\] -> \[1\]"):
        run_compare(spec, out, RunSettings(train_fn=dryrun.train, bench=False, progress=False))


def test_delta_mpc_test_keeps_its_false_positive_rate():
    """Simulated Δ mPC tables under the null (4 corruptions, 100 images, 200 resamples): at most 5% + 3 MC SE
    false positives with the image resample shared by every corruption; resampling each corruption on its own
    understates the test-set spread (an image hard for one entry is hard under every corruption) and
    inflates them."""
    from yololab.experiments.stats.calibration import Scenario, run_mpc_scenario

    tables = 400
    se = math.sqrt(0.05 * 0.95 / tables)
    for k in (2, 5):
        for ratio in (0.1, 1.0, 10.0):
            s_seed, s_img = 0.3 * math.sqrt(ratio), 0.3 / math.sqrt(ratio)
            rates = run_mpc_scenario(Scenario(k, s_seed, s_img, 100, 200, 0.0), 4, tables, seed=31 * k)
            assert rates.significant <= 0.05 + 3 * se, (k, ratio, rates)
            assert rates.coverage >= 0.95 - 3 * se, (k, ratio, rates)
    apart = run_mpc_scenario(Scenario(3, 0.3 * math.sqrt(0.1), 0.3 / math.sqrt(0.1), 100, 200, 0.0), 4, tables,
                             seed=5, shared=False)
    assert apart.significant > 0.15
