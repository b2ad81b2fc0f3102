"""yololab.data.corruptions against the reference definitions (Hendrycks & Dietterich 2019 as adapted
by bethgelab/imagecorruptions): the per-severity parameters show in the outputs' statistics, every
corruption runs at every severity on a non-square image, and equal inputs give equal bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from yololab.data.corruptions import BENCHMARK, EXTRA, FAMILIES, NAMES, blur, corrupt, filters
from yololab.data.corruptions import params as P

RNG = np.random.default_rng(0)


def _photo_like(h: int = 48, w: int = 80) -> np.ndarray:
    """A smooth colour image with edges (gradients plus a box), non-square."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([40 + 150 * xx / w, 60 + 120 * yy / h, 200 - 120 * xx / w], axis=-1)
    img[h // 4:3 * h // 4, w // 3:2 * w // 3] = (220, 30, 40)
    return img.astype(np.uint8)


def _gray(value: int, size: int = 256) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def test_names_are_the_15_of_the_benchmark_plus_4_extra() -> None:
    assert BENCHMARK == ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
                         "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
                         "elastic_transform", "pixelate", "jpeg_compression")
    assert EXTRA == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert NAMES == BENCHMARK + EXTRA
    assert sum(FAMILIES.values(), ()) == BENCHMARK


@pytest.mark.parametrize("name", NAMES)
def test_every_severity_runs_on_a_non_square_image_deterministically(name: str) -> None:
    img = _photo_like()
    before = img.copy()
    outs = [corrupt(img, name, s, seed=3) for s in range(1, 6)]
    for s, out in enumerate(outs, 1):
        assert out.shape == img.shape and out.dtype == np.uint8, (name, s)
        assert out.tobytes() == corrupt(img, name, s, seed=3).tobytes(), (name, s)  # same bytes again
        assert not np.array_equal(out, img), (name, s)  # it does something
    assert np.array_equal(img, before)  # the input is not written to
    assert len({o.tobytes() for o in outs}) == 5  # the severities differ


def test_seed_changes_the_random_draws_only_for_random_corruptions() -> None:
    img = _photo_like()
    for name in ("gaussian_noise", "impulse_noise", "glass_blur", "motion_blur", "snow", "frost", "fog",
                 "elastic_transform", "spatter"):
        assert corrupt(img, name, 3, seed=0).tobytes() != corrupt(img, name, 3, seed=1).tobytes(), name
    for name in ("defocus_blur", "zoom_blur", "contrast", "brightness", "pixelate", "jpeg_compression"):
        assert corrupt(img, name, 3, seed=0).tobytes() == corrupt(img, name, 3, seed=1).tobytes(), name


def test_gaussian_noise_std_per_severity() -> None:
    assert P.GAUSSIAN_NOISE_STD == (0.08, 0.12, 0.18, 0.26, 0.38)
    img = _gray(128)
    for s in (1, 2, 3):  # no clipping at 0.5 +- 4 sigma up to severity 3
        noise = (corrupt(img, "gaussian_noise", s).astype(float) + 0.5 - 128) / 255  # + 0.5: uint8 truncation
        assert noise.std() == pytest.approx(P.GAUSSIAN_NOISE_STD[s - 1], rel=0.03), s
        assert abs(noise.mean()) < 0.005
    stds = [corrupt(img, "gaussian_noise", s).astype(float).std() for s in range(1, 6)]
    assert stds == sorted(stds)


def test_shot_and_speckle_noise_follow_their_definitions() -> None:
    assert P.SHOT_NOISE_PHOTONS == (60, 25, 12, 5, 3)
    assert P.SPECKLE_NOISE_STD == (0.15, 0.2, 0.35, 0.45, 0.6)
    x = 128 / 255
    for s in (1, 2, 3):  # Poisson(x c) / c: std sqrt(x / c) (clipped at 1 above)
        c = P.SHOT_NOISE_PHOTONS[s - 1]
        out = corrupt(_gray(128), "shot_noise", s).astype(float) / 255
        assert out.std() == pytest.approx(np.sqrt(x / c), rel=0.05), s
    for s in (1, 2, 3):  # x + x N(0, c): std x c
        out = corrupt(_gray(128), "speckle_noise", s).astype(float) / 255
        assert out.std() == pytest.approx(x * P.SPECKLE_NOISE_STD[s - 1], rel=0.03), s


def test_impulse_noise_sets_the_reference_fraction_half_salt_half_pepper() -> None:
    assert P.IMPULSE_NOISE_AMOUNT == (0.03, 0.06, 0.09, 0.17, 0.27)
    for s in range(1, 6):
        out = corrupt(_gray(128), "impulse_noise", s)
        salt, pepper = (out == 255).mean(), (out == 0).mean()
        assert salt + pepper == pytest.approx(P.IMPULSE_NOISE_AMOUNT[s - 1], rel=0.05), s
        assert salt == pytest.approx(pepper, rel=0.15)
        assert ((out == 128) | (out == 255) | (out == 0)).all()


def test_contrast_scales_around_the_channel_mean() -> None:
    assert P.CONTRAST_FACTOR == (0.4, 0.3, 0.2, 0.1, 0.05)
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = 50
    img[:, 32:] = 250  # channel mean 150, spread 200
    for s in range(1, 6):
        out = corrupt(img, "contrast", s).astype(float)
        c = P.CONTRAST_FACTOR[s - 1]
        assert out[0, 40, 0] - out[0, 0, 0] == pytest.approx(200 * c, abs=1.01), s
        assert out.mean() == pytest.approx(150, abs=1.01)


def test_brightness_adds_to_hsv_value() -> None:
    assert P.BRIGHTNESS_SHIFT == (0.1, 0.2, 0.3, 0.4, 0.5)
    img = np.zeros((32, 32, 3), np.uint8)
    img[:16] = (100, 50, 25)  # V = 100 / 255; hue and saturation are kept: RGB scales by V' / V
    img[16:] = (80, 80, 80)
    for s in range(1, 6):
        c = P.BRIGHTNESS_SHIFT[s - 1]
        out = corrupt(img, "brightness", s).astype(float)
        v = min(100 / 255 + c, 1.0)
        np.testing.assert_allclose(out[0, 0], np.array([100, 50, 25]) * v / (100 / 255), atol=1.01)
        np.testing.assert_allclose(out[20, 0], min(80 + 255 * c, 255), atol=1.01)


def test_saturate_scales_hsv_saturation() -> None:
    assert P.SATURATE == ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))
    img = np.full((32, 32, 3), (200, 150, 100), np.uint8)  # V 200, S 0.5: the minimum is V (1 - S)
    for s in range(1, 6):
        a, b = P.SATURATE[s - 1]
        sat = min(0.5 * a + b, 1.0)
        out = corrupt(img, "saturate", s).astype(float)[0, 0]
        assert out.max() == pytest.approx(200, abs=1.01) and out.min() == pytest.approx(200 * (1 - sat), abs=1.01)


def test_jpeg_compression_uses_the_reference_quality() -> None:
    assert P.JPEG_QUALITY == (25, 18, 15, 10, 7)
    img = RNG.integers(0, 256, (48, 80, 3), dtype=np.uint8)

    def round_trip(quality: int) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=quality)
        return np.asarray(Image.open(buf).convert("RGB"))

    for s, q in enumerate(P.JPEG_QUALITY, 1):
        out = corrupt(img, "jpeg_compression", s)
        assert np.array_equal(out, round_trip(q)), s
        assert not np.array_equal(out, round_trip(q + 5)), s


def test_pixelate_blocks_follow_the_factor() -> None:
    assert P.PIXELATE_FACTOR == (0.6, 0.5, 0.4, 0.3, 0.25)
    img = RNG.integers(0, 256, (100, 160, 3), dtype=np.uint8)
    for s, c in enumerate(P.PIXELATE_FACTOR, 1):
        out = corrupt(img, "pixelate", s)
        distinct_cols = 1 + (np.abs(np.diff(out.astype(int), axis=1)).sum(axis=(0, 2)) > 0).sum()
        distinct_rows = 1 + (np.abs(np.diff(out.astype(int), axis=0)).sum(axis=(1, 2)) > 0).sum()
        assert (distinct_cols, distinct_rows) == (int(160 * c), int(100 * c)), s


def test_gaussian_blur_sigma_per_severity() -> None:
    assert P.GAUSSIAN_BLUR_SIGMA == (1, 2, 3, 4, 6)
    dot = np.zeros((81, 81, 3), np.uint8)
    dot[40, 40] = 255
    yy, xx = np.mgrid[0:81, 0:81] - 40
    for s, sigma in enumerate(P.GAUSSIAN_BLUR_SIGMA, 1):
        response = blur.gaussian_blur(dot, s, RNG)[..., 0]  # the float result, before uint8
        response = response / response.sum()
        assert np.sqrt((response * xx ** 2).sum()) == pytest.approx(sigma, rel=0.03), s
        assert np.sqrt((response * yy ** 2).sum()) == pytest.approx(sigma, rel=0.03), s


def test_defocus_disk_and_zoom_factors() -> None:
    assert P.DEFOCUS_BLUR == ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
    for radius, alias in P.DEFOCUS_BLUR:
        k = blur.disk_kernel(radius, alias)
        assert k.sum() == pytest.approx(1, abs=0.02)  # normalised before the anti-alias blur (its border adds ~1%)
        c = k.shape[0] // 2
        assert k[c, c + radius - 1] > 0.5 * k[c, c]  # flat inside the disk
        if c + radius + 2 < k.shape[0]:  # the grid is 17 x 17, or just the disk's above radius 8
            assert k[c, c + radius + 2] < 0.01 * k[c, c]  # nothing outside it
        assert k.shape[0] == (17 if radius <= 8 else 2 * radius + 1)
    # numpy.arange as the reference calls it (floating point gives severity 1 a 12th factor, 1.11)
    assert [len(blur.zoom_factors(s)) for s in range(1, 6)] == [12, 16, 11, 13, 11]
    assert blur.zoom_factors(5)[-1] == pytest.approx(1.30)


def test_motion_blur_shift_fills_with_the_edge() -> None:
    x = RNG.random((20, 30, 3)).astype(np.float32)
    out = filters.shift(x, 4, -3)
    assert np.array_equal(out[:-3, 4:], x[3:, :-4])
    assert np.array_equal(out[:-3, 0], x[3:, 0]) and np.array_equal(out[-1, 4:], x[-1, :-4])


def test_blur_and_digital_damage_grows_with_severity() -> None:
    img = _photo_like(96, 128)
    for name in ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
                 "zoom_blur", "contrast", "elastic_transform", "pixelate", "jpeg_compression", "fog"):
        damage = [np.abs(corrupt(img, name, s).astype(float) - img).mean() for s in (1, 3, 5)]
        assert damage[0] < damage[2], (name, damage)


@pytest.mark.parametrize("bad, message", [
    (dict(name="rain"), "unknown corruption"),
    (dict(severity=0), "from 1 to 5"),
    (dict(severity=6), "from 1 to 5"),
    (dict(severity=2.0), "from 1 to 5"),
    (dict(seed=-1), "seed"),
    (dict(image=np.zeros((20, 64, 3), np.uint8)), "smaller than 32x32"),
    (dict(image=np.zeros((40, 64), np.uint8)), "HxWx3 uint8"),
    (dict(image=np.zeros((40, 64, 3), np.float32)), "HxWx3 uint8"),
])
def test_bad_input_is_one_clear_value_error(bad: dict, message: str) -> None:
    args = dict(image=_photo_like(), name="fog", severity=3, seed=0) | bad
    with pytest.raises(ValueError, match=message):
        corrupt(**args)
