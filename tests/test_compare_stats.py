"""experiments.stats: t-intervals against scipy, Holm against a hand computation, seeds for 80% power against
the textbook two-sample values, and the paired bootstrap against eval.bootstrap on synthetic COCO results."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from yololab.eval.bootstrap import ImageMatches, bootstrap_map
from yololab.experiments import stats


def test_t_interval_matches_scipy():
    values = [0.312, 0.325, 0.301, 0.318]
    expected = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    assert stats.t_interval(values) == pytest.approx(expected, abs=1e-12)
    assert stats.t_interval([0.3, 0.5]) == pytest.approx(sps.t.interval(0.95, 1, loc=0.4, scale=sps.sem([0.3, 0.5])))
    assert stats.t_interval([0.3]) is None


def test_holm_by_hand():
    # sorted: 0.01*4 = 0.04, 0.03*3 = 0.09, 0.04*2 = 0.08 -> 0.09 (monotone), 0.2*1 = 0.2
    assert stats.holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert stats.holm([0.5, None, 0.6]) == [pytest.approx(1.0), None, pytest.approx(1.0)]  # capped at 1
    assert stats.holm([]) == []


def test_seeds_for_power_textbook_values():
    # two-sided two-sample t-test, alpha 0.05, 80% power: d = 1 needs 17 per group, d = 0.5 needs 64
    assert stats.seeds_for_power(1.0, 1.0) == 17
    assert stats.seeds_for_power(0.01, 0.02) == 64
    assert stats.two_sample_power(17, 1.0, 1.0) == pytest.approx(0.807, abs=1e-3)
    assert stats.two_sample_power(16, 1.0, 1.0) < 0.8
    assert stats.seeds_for_power(0.01, 0.0) is None


def test_pooled_std():
    std, df = stats.pooled_std([[0.40, 0.42], [0.50, 0.46], [0.3]])
    assert df == 2 and std == pytest.approx(np.sqrt((0.01 ** 2 * 2 + 0.02 ** 2 * 2) / 2))


# -- paired bootstrap on synthetic COCO results --------------------------------------------------------
def make_gt(n_images: int = 40, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "width": 200, "height": 200, "file_name": f"{i}.jpg"})
        for _ in range(int(rng.integers(1, 4))):
            x, y, w, h = (float(v) for v in (*rng.uniform(0, 120, 2), *rng.uniform(20, 70, 2)))
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(rng.integers(0, 2)),
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    categories = [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def make_dt(gt: dict, quality: float, seed: int) -> list[dict]:
    """Each box found with probability ``quality``, jittered less the better; plus false positives."""
    rng = np.random.default_rng(seed)
    out = []
    for a in gt["annotations"]:
        if rng.random() < quality:
            x, y, w, h = a["bbox"]
            j = (1.2 - quality) * 0.25
            box = [x + rng.normal(0, j * w), y + rng.normal(0, j * h), w * (1 + rng.normal(0, j)),
                   h * (1 + rng.normal(0, j))]
            out.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": box,
                        "score": float(np.clip(quality + rng.normal(0, 0.2), 0.01, 1))})
    for im in gt["images"]:
        for _ in range(int(rng.integers(0, 3))):
            out.append({"image_id": im["id"], "category_id": int(rng.integers(0, 2)),
                        "bbox": [*rng.uniform(0, 150, 2).tolist(), 30.0, 30.0], "score": float(rng.uniform(0, 0.6))})
    return out


@pytest.fixture(scope="module")
def gt():
    return make_gt()


def _replicates(gt, dts, n, seed):
    rng = np.random.default_rng(seed)
    matches = [ImageMatches.from_coco(gt, dt) for dt in dts]
    weights = stats.image_weights(matches[0].num_images, n, rng)
    return [m.map(weights)["map50_95"] for m in matches], rng


def test_one_seed_is_the_image_bootstrap_of_eval_bootstrap(gt):
    good, bad = make_dt(gt, 0.9, 1), make_dt(gt, 0.5, 2)
    (rg, rb), rng = _replicates(gt, [good, bad], 300, seed=7)
    result = stats.paired_bootstrap([rg], [rb], rng, len(gt["images"]))
    reference = bootstrap_map(gt, good, bad, n=300, seed=7)  # same seed -> the same image resamples
    assert result.delta == pytest.approx(reference["delta_map50_95"], abs=1e-12)
    assert list(result.ci95) == pytest.approx(reference["delta_map50_95_ci95"], abs=1e-12)
    assert result.delta > 0.1 and result.ci95[0] > 0 and result.p_value == pytest.approx(2 / 301)


def test_identical_cells_give_zero_delta_and_p_one(gt):
    dt = make_dt(gt, 0.7, 3)
    (ra, rb), rng = _replicates(gt, [dt, dt], 200, seed=0)
    result = stats.paired_bootstrap([ra], [rb], rng, len(gt["images"]))
    assert result.delta == 0 and result.ci95 == (0.0, 0.0) and result.p_value == 1.0


def test_seed_resampling_adds_training_variance(gt):
    """Seeds that agree add nothing to the interval; seeds that disagree widen it beyond the image bootstrap."""
    mid, good, bad = make_dt(gt, 0.7, 4), make_dt(gt, 0.95, 5), make_dt(gt, 0.45, 6)
    (rm, rg, rb), _ = _replicates(gt, [mid, good, bad], 400, seed=1)
    same = stats.paired_bootstrap([rg, rg, rg], [rm, rm, rm], np.random.default_rng(0), 40)
    single = stats.paired_bootstrap([rg], [rm], np.random.default_rng(0), 40)
    assert same.ci95 == pytest.approx(single.ci95) and same.n_seeds == 3
    mixed = stats.paired_bootstrap([rg, rb], [rm, rm], np.random.default_rng(0), 40)
    averaged = stats.paired_bootstrap([(rg + rb) / 2], [rm], np.random.default_rng(0), 40)  # seed spread removed
    assert mixed.delta == pytest.approx(averaged.delta)
    assert mixed.ci95[1] - mixed.ci95[0] > 1.5 * (averaged.ci95[1] - averaged.ci95[0])


def test_paired_bootstrap_needs_matching_seeds():
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        stats.paired_bootstrap([np.zeros(5)], [], np.random.default_rng(0), 3)


def test_reference_and_scoring_keys_are_checked():
    from yololab.config import ConfigError
    from yololab.experiments.spec import expand_cells, spec_from_mapping

    base = {"data": "d.yaml", "models": ["yolov5n"], "backbones": ["timm:resnet18", "native"], "seeds": [0]}
    assert {c.reference for c in expand_cells(spec_from_mapping(base))} == {"cspdarknet"}  # native by default
    for ref in ("cspdarknet", "native"):
        assert {c.reference for c in expand_cells(spec_from_mapping({**base, "reference": ref}))} == {"cspdarknet"}
    assert {c.reference for c in expand_cells(spec_from_mapping({**base, "reference": "timm:resnet18"}))} == \
        {"timm:resnet18"}
    with pytest.raises(ConfigError, match="reference 'resnet'"):
        spec_from_mapping({**base, "reference": "resnet"})
    with pytest.raises(ConfigError, match="score_split must be one of"):
        spec_from_mapping({**base, "score_split": "train"})
    with pytest.raises(ConfigError, match="checkpoint must be one of"):
        spec_from_mapping({**base, "checkpoint": "final"})
