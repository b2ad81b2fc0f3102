"""Augmentations: letterbox geometry, mosaic placement, affine boxes that follow the pixels, HSV, flips."""

from __future__ import annotations

import numpy as np
import pytest

from yololab.data.augment import (
    AugmentConfig,
    augment_hsv,
    box_candidates,
    letterbox,
    mixup,
    mosaic4,
    random_flip,
    random_perspective,
)

COLOURS = [(250, 20, 20), (20, 250, 20), (20, 20, 250), (250, 250, 20)]


def test_augment_config_defaults_match_hyp_scratch_low():
    assert AugmentConfig().to_dict() == dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0, translate=0.1,
                                             scale=0.5, shear=0.0, perspective=0.0, flipud=0.0, fliplr=0.5,
                                             mosaic=1.0, mixup=0.0)
    with pytest.raises(ValueError, match="hsv_x"):
        AugmentConfig.from_dict({"hsv_x": 0.1})
    hyp = {"lr0": 0.01, "box": 0.05, "degrees": 5, "mosaic": 0.5}  # a whole hyp file
    assert AugmentConfig.from_dict(hyp, strict=False) == AugmentConfig(degrees=5.0, mosaic=0.5)


def test_letterbox_square_and_auto():
    im = np.full((480, 640, 3), 7, np.uint8)
    out, ratio, pad = letterbox(im, 640, auto=False)
    assert out.shape == (640, 640, 3) and ratio == (1.0, 1.0) and pad == (0.0, 80.0)
    assert (out[:80] == 114).all() and (out[560:] == 114).all() and (out[80:560] == 7).all()
    out, _, pad = letterbox(im, 640, auto=True, stride=32)  # minimal stride-multiple padding
    assert out.shape == (480, 640, 3) and pad == (0.0, 0.0)
    out, ratio, pad = letterbox(np.zeros((300, 500, 3), np.uint8), 416, auto=True, stride=32)
    assert ratio == (0.832, 0.832) and out.shape == (256, 416, 3) and pad == (0.0, 3.0)  # 250 -> 256


def test_letterbox_odd_padding_and_no_scaleup():
    im = np.zeros((100, 50, 3), np.uint8)
    out, ratio, pad = letterbox(im, (100, 61), auto=False, scaleup=False)
    assert out.shape == (100, 61, 3) and ratio == (1.0, 1.0) and pad == (5.5, 0.0)
    assert (out[:, :5] == 114).all() and (out[:, 5] == 0).all() and (out[:, 55:] == 114).all()
    out, ratio, _ = letterbox(im, 200, auto=False, scaleup=False)
    assert ratio == (1.0, 1.0) and out.shape == (200, 200, 3)  # padded, never enlarged
    out, ratio, _ = letterbox(im, 200, auto=False, scaleup=True)
    assert ratio == (2.0, 2.0) and (out[:, 50:150] == 0).all()


def test_mosaic_places_each_image_under_its_boxes():
    size = 64
    images = [np.full((h, w, 3), c, np.uint8) for (h, w), c in zip([(64, 48), (40, 64), (64, 64), (30, 20)], COLOURS)]
    labels = [np.array([[i, 0.5, 0.5, 1.0, 1.0]], np.float32) for i in range(4)]  # each box = its whole image
    for seed in range(20):
        canvas, out = mosaic4(images, labels, size, np.random.default_rng(seed))
        assert canvas.shape == (128, 128, 3) and canvas.dtype == np.uint8 and out.shape == (4, 5)
        assert (out[:, 1:] >= 0).all() and (out[:, 1:] <= 128).all()
        for cls, x1, y1, x2, y2 in out:
            if x2 - x1 >= 2 and y2 - y1 >= 2:
                patch = canvas[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))]
                assert (patch == COLOURS[int(cls)]).all()
        covered = sum((out[:, 3] - out[:, 1]) * (out[:, 4] - out[:, 2]))
        assert covered == pytest.approx((canvas != 114).any(2).sum())  # nothing drawn outside the boxes


def test_mosaic_then_perspective_output_size_and_boxes_inside():
    size = 96
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (96, 72, 3), dtype=np.uint8) for _ in range(4)]
    labels = [np.array([[0, 0.5, 0.5, 0.6, 0.6], [1, 0.2, 0.3, 0.2, 0.3]], np.float32) for _ in range(4)]
    cfg = AugmentConfig(degrees=10, shear=5, perspective=0.0005)
    for seed in range(20):
        r = np.random.default_rng(seed)
        canvas, lab = mosaic4(images, labels, size, r)
        img, out = random_perspective(canvas, lab, cfg, r, border=(-size // 2, -size // 2))
        assert img.shape == (size, size, 3)
        assert (out[:, 1:] >= 0).all() and (out[:, [1, 3]] <= size).all() and (out[:, [2, 4]] <= size).all()
        assert (out[:, 3] - out[:, 1] > 2).all() and (out[:, 4] - out[:, 2] > 2).all()


def test_affine_boxes_follow_the_object():
    """With rotation 0 a solid rectangle stays a rectangle: its warped box must match its pixels."""
    im = np.full((120, 160, 3), 114, np.uint8)
    im[30:70, 40:100] = (200, 30, 30)
    labels = np.array([[3, 40, 30, 100, 70]], np.float32)
    cfg = AugmentConfig()  # translate 0.1, scale 0.5
    checked = 0
    for seed in range(30):
        img, out = random_perspective(im, labels, cfg, np.random.default_rng(seed))
        assert img.shape == im.shape
        ys, xs = np.nonzero(img[..., 0] > 150)
        if len(out):
            assert out[0, 0] == 3
            x1, y1, x2, y2 = out[0, 1:]
            assert abs(xs.min() - x1) <= 1.5 and abs(xs.max() + 1 - x2) <= 1.5
            assert abs(ys.min() - y1) <= 1.5 and abs(ys.max() + 1 - y2) <= 1.5
            checked += 1
        else:  # dropped only when mostly pushed out of the image
            assert len(xs) < 0.1 * 60 * 40 * 1.5**2 + 1
    assert checked > 20


def test_identity_affine_and_box_candidates():
    im = np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    labels = np.array([[1, 5, 5, 30, 40], [2, 10, 10, 11, 11]], np.float32)  # the second is 1 px: filtered
    img, out = random_perspective(im, labels, AugmentConfig(translate=0, scale=0), np.random.default_rng(0))
    assert (img == im).all() and out.tolist() == [[1, 5, 5, 30, 40]]
    keep = box_candidates(np.array([[0, 0, 0], [0, 0, 0], [10, 10, 10], [10, 10, 10]], float),
                          np.array([[0, 0, 0], [0, 0, 0], [10, 3, 10], [10, 3, 0.05]], float))
    assert keep.tolist() == [True, False, False]  # area ratio 0.09 < 0.1; last is too thin


def test_hsv_and_flips():
    rng = np.random.default_rng(0)
    im = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    same = im.copy()
    augment_hsv(same, AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0), rng)
    assert (same == im).all()
    changed = im.copy()
    augment_hsv(changed, AugmentConfig(), np.random.default_rng(1))
    assert changed.shape == im.shape and changed.dtype == np.uint8 and (changed != im).any()
    grey = np.full((4, 4, 3), 100, np.uint8)
    augment_hsv(grey, AugmentConfig(hsv_h=0.5, hsv_s=0, hsv_v=0.4), np.random.default_rng(2))
    assert (grey == grey[..., :1]).all()  # hue/value changes keep grey grey

    labels = np.array([[0, 0.2, 0.3, 0.1, 0.1]], np.float32)
    flipped = random_flip(im, labels, AugmentConfig(fliplr=1.0, flipud=1.0), rng)
    assert (flipped == im[::-1, ::-1]).all() and labels[0, 1:3].tolist() == pytest.approx([0.8, 0.7])
    kept = random_flip(im, labels, AugmentConfig(fliplr=0.0), rng)
    assert (kept == im).all() and labels[0, 1] == pytest.approx(0.8)


def test_mixup_blends_and_concatenates():
    a, b = np.full((8, 8, 3), 200, np.uint8), np.full((8, 8, 3), 100, np.uint8)
    out, lab = mixup(a, np.zeros((2, 5)), b, np.ones((1, 5)), np.random.default_rng(0))
    assert 120 < out.mean() < 180 and lab.shape == (3, 5)


def test_augment_hsv_equals_the_three_channel_table_formula():
    """The per-plane lookups give the pixels of one 3-channel table on the HSV image (the former code)."""
    import cv2

    im = np.random.default_rng(3).integers(0, 256, (31, 45, 3), dtype=np.uint8)
    cfg = AugmentConfig()
    gains = np.random.default_rng(4).uniform(-1, 1, 3) * (cfg.hsv_h, cfg.hsv_s, cfg.hsv_v) + 1
    x = np.arange(256, dtype=np.float64)
    lut = np.stack((((x * gains[0]) % 180).astype(np.uint8), np.clip(x * gains[1], 0, 255).astype(np.uint8),
                    np.clip(x * gains[2], 0, 255).astype(np.uint8)), 1).reshape(256, 1, 3)
    want = cv2.cvtColor(cv2.LUT(cv2.cvtColor(im, cv2.COLOR_RGB2HSV), lut), cv2.COLOR_HSV2RGB)
    for planes in (None, np.empty((3, 31, 45), np.uint8)):
        got = augment_hsv(im.copy(), cfg, np.random.default_rng(4), planes=planes)
        assert np.array_equal(got, want)
    view = im.copy()[:, ::-1]  # not contiguous: worked on a copy, written back
    assert np.array_equal(augment_hsv(view, cfg, np.random.default_rng(4)),
                          cv2.cvtColor(cv2.LUT(cv2.cvtColor(np.ascontiguousarray(im[:, ::-1]), cv2.COLOR_RGB2HSV), lut),
                                       cv2.COLOR_HSV2RGB))
