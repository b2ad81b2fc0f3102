"""The composed-warp mosaic (data/mosaic.py) against upstream's resize -> 2x canvas -> warp ('canvas'), on
real coco128 photos: the same labels from the same seed, pixels apart by resampling only, and the
augmentation's statistics (random scale and translation, box survival, padding) those of upstream's
formulas (hyp.scratch-low: scale U(0.5, 1.5), translation U(0.4, 0.6) x size)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from yololab.data import AugmentConfig, DetectionDataset, load_split
from yololab.data.augment import PAD_VALUE
from yololab.data.mosaic import plan_mosaic

N_ITEMS = 96


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: the user cache in tmp_path


@pytest.fixture(scope="module")
def records(coco128, tmp_path_factory):
    import os

    os.environ.setdefault("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
    recs, _ = load_split(coco128 / "data.yaml", "train", cache=False, log=False)
    return recs


def items(ds: DetectionDataset, seeds) -> list:
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(ds[seed % len(ds)])
    return out


@pytest.mark.parametrize("size", [640, 320])
def test_same_seed_same_labels_and_close_pixels(records, size: int, one_thread) -> None:
    aug = AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0)  # pixels compared without the colour jitter
    warp = items(DetectionDataset(records, size, augment=True, aug=aug), range(24))
    canvas = items(DetectionDataset(records, size, augment=True, aug=aug, mosaic="canvas"), range(24))
    diffs = []
    for a, b in zip(warp, canvas):
        assert a[0].shape == b[0].shape == (3, size, size)
        assert torch.allclose(a[1], b[1], atol=1e-5), "labels differ for the same seed"
        diffs.append((a[0].float() - b[0].float()).abs().mean().item())
    # resampling differences only (one bilinear step instead of two, DCT-domain halving at 320)
    assert np.mean(diffs) < 3.0 and max(diffs) < 6.0, diffs


def test_rotation_shear_perspective_tiles_do_not_overwrite_each_other(records, one_thread) -> None:
    aug = AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0, degrees=15, shear=5, perspective=0.0005)
    warp = items(DetectionDataset(records, 320, augment=True, aug=aug), range(12))
    canvas = items(DetectionDataset(records, 320, augment=True, aug=aug, mosaic="canvas"), range(12))
    for a, b in zip(warp, canvas):
        assert torch.allclose(a[1], b[1], atol=1e-5)
        assert (a[0].float() - b[0].float()).abs().mean().item() < 6.0


def _plans(records, size: int, seeds) -> list:
    ds = DetectionDataset(records, size, augment=True)
    plans = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(ds), 4).tolist()
        plans.append(plan_mosaic([ds._frame_hw(i) for i in picks], [ds.labels[i] for i in picks], size,
                                 ds.aug, rng))
    return plans


def test_random_scale_and_translation_follow_upstreams_formulas(records) -> None:
    size = 320
    plans = _plans(records, size, range(2000))
    scales = np.array([p.scale for p in plans])
    # matrix = translate @ scale @ centre(-size): its offset is t - s * size, t ~ U(0.4, 0.6) * size
    tx = np.array([p.matrix[0, 2] + p.scale * size for p in plans]) / size
    ty = np.array([p.matrix[1, 2] + p.scale * size for p in plans]) / size
    assert stats.kstest(scales, stats.uniform(0.5, 1.0).cdf).pvalue > 0.001
    assert stats.kstest(tx, stats.uniform(0.4, 0.2).cdf).pvalue > 0.001
    assert stats.kstest(ty, stats.uniform(0.4, 0.2).cdf).pvalue > 0.001


def _statistics(ds: DetectionDataset, seeds) -> dict[str, np.ndarray]:
    boxes, pads, counts = [], [], []
    for img, labels, _, _ in items(ds, seeds):
        counts.append(len(labels))
        boxes.append(labels[:, 4:6].numpy())
        pads.append((img == PAD_VALUE).all(0).float().mean().item())
    return {"count": np.array(counts), "wh": np.concatenate(boxes), "pad": np.array(pads)}


def test_box_survival_sizes_and_padding_match_the_canvas_path(records, one_thread) -> None:
    """Independent seeds: the two paths are two samples of one distribution (KS tests and mean checks)."""
    size = 320
    aug = AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0, fliplr=0)
    new = _statistics(DetectionDataset(records, size, augment=True, aug=aug), range(N_ITEMS))
    old = _statistics(DetectionDataset(records, size, augment=True, aug=aug, mosaic="canvas"),
                      range(10_000, 10_000 + N_ITEMS))
    se = np.sqrt(new["count"].var() / N_ITEMS + old["count"].var() / N_ITEMS)
    assert abs(new["count"].mean() - old["count"].mean()) < 4 * se  # boxes surviving per mosaic
    for k in (0, 1):  # normalised box width and height
        assert stats.ks_2samp(new["wh"][:, k], old["wh"][:, k]).pvalue > 0.001
    assert stats.ks_2samp(new["pad"], old["pad"]).pvalue > 0.001  # share of padding pixels


def test_tiles_out_of_sight_are_not_decoded(records, monkeypatch) -> None:
    ds = DetectionDataset(records, 320, augment=True)
    calls = []
    real = ds._mosaic_source
    monkeypatch.setattr(ds, "_mosaic_source", lambda i, n: calls.append(i) or real(i, n))
    for seed in range(40):
        torch.manual_seed(seed)
        ds[seed]
    assert 0 < len(calls) < 4 * 40  # some tiles never reach the output, and those were skipped
