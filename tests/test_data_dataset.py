"""DetectionDataset / loader: item format, rectangular batches as upstream, boxes mapped back, augmentation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from yololab.data import AugmentConfig, DetectionDataset, collate_fn, create_dataloader, load_split
from yololab.data import make_synthetic_dataset
from yololab.data.dataset import rect_batch_shapes


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: the user cache in tmp_path


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    yaml_path = make_synthetic_dataset(tmp_path_factory.mktemp("synth"), num_train=12, num_val=6, img_size=96)
    records, _ = load_split(yaml_path, "train", cache=False, log=False)
    return records


def to_original_pixels(labels: torch.Tensor, img_hw: tuple[int, int], shapes) -> np.ndarray:
    """Output-normalised [.., cls, cx, cy, w, h] -> original-image pixel xyxy, as an evaluator would do."""
    h, w = img_hw
    (h0, w0), ((rh, rw), (padw, padh)) = shapes
    cx, cy, bw, bh = (labels[:, 2:] * torch.tensor([w, h, w, h])).double().unbind(1)
    xyxy = torch.stack([cx - bw / 2 - padw, cy - bh / 2 - padh, cx + bw / 2 - padw, cy + bh / 2 - padh], 1)
    xyxy /= torch.tensor([rw, rh, rw, rh], dtype=torch.float64)
    return xyxy.numpy()


def record_pixels(labels: np.ndarray, w0: int, h0: int) -> np.ndarray:
    cx, cy, w, h = labels[:, 1] * w0, labels[:, 2] * h0, labels[:, 3] * w0, labels[:, 4] * h0
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def test_rect_batch_shapes_by_hand():
    wh = np.array([(640, 480), (640, 427), (480, 640), (500, 500), (300, 600)])
    order, batch, shapes = rect_batch_shapes(wh, 640, 2, 32, 0.5)
    assert order.tolist() == [1, 0, 3, 2, 4]  # sorted by h / w
    assert batch.tolist() == [0, 0, 1, 1, 2]
    # [0.75, 1] * 640 / 32 + 0.5 -> ceil(15.5, 20.5) = (16, 21) * 32; mixed batch -> square; tall -> [1, 1/2]
    assert shapes.tolist() == [[512, 672], [672, 672], [672, 352]]
    _, _, shapes = rect_batch_shapes(wh, 640, 2, 32, 0.0)
    assert shapes.tolist() == [[480, 640], [640, 640], [640, 320]]


def test_val_item_format_and_round_trip(synth):
    ds = DetectionDataset(synth, img_size=64, rect=False)  # 96 px images shrunk to 64 and letterboxed square
    for i in range(len(ds)):
        img, labels, path, shapes = ds[i]
        assert img.dtype == torch.uint8 and img.shape == (3, 64, 64) and path == synth[i].path
        assert labels.dtype == torch.float32 and labels.shape == (len(synth[i].labels), 6)
        assert (labels[:, 0] == 0).all() and torch.equal(labels[:, 1], torch.from_numpy(synth[i].labels[:, 0]))
        assert shapes[0] == (96, 96) and shapes[1][0] == pytest.approx((64 / 96, 64 / 96))
        back = to_original_pixels(labels, img.shape[1:], shapes)
        np.testing.assert_allclose(back, record_pixels(synth[i].labels, 96, 96), atol=0.05)


def test_val_pixels_match_upstream_preprocessing(synth):
    """Upstream val: shrink with INTER_AREA to ceil(side * r), then pad with 114 around the centre."""
    import math

    import cv2

    ds = DetectionDataset(synth[:2], img_size=64, rect=True, batch_size=2, pad=0.5)
    for i in range(2):
        img, _, path, ((h0, w0), (_, (padw, padh))) = ds[i]
        r = 64 / max(h0, w0)
        small = cv2.resize(cv2.imread(path)[..., ::-1], (math.ceil(w0 * r), math.ceil(h0 * r)),
                           interpolation=cv2.INTER_AREA)
        expected = np.full((*img.shape[1:], 3), 114, np.uint8)
        top, left = int(padh - 0.1 + 0.5), int(padw - 0.1 + 0.5)
        expected[top:top + small.shape[0], left:left + small.shape[1]] = small
        assert torch.equal(img, torch.from_numpy(expected.transpose(2, 0, 1).copy()))


def test_item_is_rgb(tmp_path):
    import cv2

    from yololab.data import ImageRecord

    bgr = np.zeros((40, 40, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    img, *_ = DetectionDataset([ImageRecord(str(tmp_path / "red.png"), 40, 40)], img_size=32)[0]
    assert img[0].float().mean() > 250 and img[2].float().mean() < 5


def test_collate_and_loader(synth, caplog):
    ds = DetectionDataset(synth, img_size=64, rect=True, batch_size=4)
    with caplog.at_level(logging.WARNING, logger="yololab"):
        loader = create_dataloader(ds, 4, shuffle=True, workers=0)
    assert "shuffle" in caplog.text  # rect batches cannot be shuffled
    imgs, targets, paths, shapes = next(iter(loader))
    assert imgs.shape == (4, 3, 64 + 32, 64 + 32) and len(paths) == len(shapes) == 4  # ceil(2 + 0.5) * 32
    counts = [len(ds.labels[i]) for i in range(4)]
    assert targets[:, 0].tolist() == sum(([i] * n for i, n in enumerate(counts)), [])
    with pytest.raises(ValueError, match="batch_size"):
        create_dataloader(ds, 8)
    batch = collate_fn([ds[0], ds[1]])
    assert batch[1][:, 0].max() <= 1


def test_loader_with_persistent_workers(synth):
    ds = DetectionDataset(synth[:4], img_size=64, augment=True, batch_size=2)
    loader = create_dataloader(ds, 2, shuffle=True, workers=1, seed=0)
    assert loader.persistent_workers and loader.pin_memory == torch.cuda.is_available()
    for _ in range(2):  # two epochs through the same worker
        n = sum(imgs.shape[0] for imgs, *_ in loader)
        assert n == 4


def test_augmented_items(synth):
    ds = DetectionDataset(synth, img_size=64, augment=True, aug=AugmentConfig(degrees=5))
    for i in range(len(ds)):
        img, labels, _, shapes = ds[i]
        assert img.shape == (3, 64, 64) and shapes is None  # mosaic
        assert ((labels[:, 2:] >= 0) & (labels[:, 2:] <= 1)).all() and (labels[:, 4:] > 0).all()
    torch.manual_seed(0)
    a = ds[3]
    torch.manual_seed(0)
    b = ds[3]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # reproducible from the torch seed
    assert not torch.equal(ds[3][0], ds[3][0])  # and random otherwise

    no_mosaic = DetectionDataset(synth, img_size=64, augment=True, aug=AugmentConfig(mosaic=0.0))
    img, labels, _, shapes = no_mosaic[0]
    assert img.shape == (3, 64, 64) and shapes[0] == (96, 96)


def test_cache_images_gives_identical_items(synth):
    plain = DetectionDataset(synth[:3], img_size=64, rect=True, batch_size=3)
    cached = DetectionDataset(synth[:3], img_size=64, rect=True, batch_size=3, cache="ram")
    for i in range(3):
        assert torch.equal(plain[i][0], cached[i][0]) and torch.equal(plain[i][1], cached[i][1])


def test_coco128_val_rect_batches_like_upstream(coco128):
    """Shapes as upstream's LoadImagesAndLabels(rect=True, pad=0.5, batch 16) computes them for val2017."""
    records, _ = load_split(coco128 / "data.yaml", "val", log=False)
    ds = DetectionDataset(records, img_size=640, rect=True, batch_size=16, pad=0.5, rect_batches=True)
    assert ds.batch_shapes.tolist() == [[448, 672]] * 3 + [[512, 672]] * 2 + [[672, 672]] * 2 + [[672, 512]]
    ratios = ds.shapes[:, 1] / ds.shapes[:, 0]
    assert (np.diff(ratios) >= 0).all()
    for i in (0, 40, 127):  # one per shape group
        img, labels, path, shapes = ds[i]
        assert tuple(img.shape[1:]) == tuple(ds.batch_shapes[ds.batch[i]])
        rec = ds.records[i]
        assert shapes[0] == (rec.height, rec.width)
        back = to_original_pixels(labels, img.shape[1:], shapes)
        np.testing.assert_allclose(back, record_pixels(rec.labels, rec.width, rec.height), atol=0.01)


def test_hwc_to_chw_and_stack_images_match_numpy_and_torch():
    from yololab.data.dataset import hwc_to_chw, stack_images

    rng = np.random.default_rng(0)
    im = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    assert np.array_equal(hwc_to_chw(im), im.transpose(2, 0, 1))
    assert np.array_equal(hwc_to_chw(im[:, ::-1]), im[:, ::-1].transpose(2, 0, 1))  # a view: numpy's copy
    grey = rng.integers(0, 256, (5, 7, 1), dtype=np.uint8)
    assert np.array_equal(hwc_to_chw(grey), grey.transpose(2, 0, 1))
    ims = [torch.from_numpy(rng.integers(0, 256, (3, 8, 9), dtype=np.uint8)) for _ in range(4)]
    assert torch.equal(stack_images(ims), torch.stack(ims, 0))
    floats = [im.float() for im in ims]
    assert torch.equal(stack_images(floats), torch.stack(floats, 0))


def test_random_flip_in_place_matches_the_views():
    from yololab.data.augment import random_flip

    rng = np.random.default_rng(1)
    im = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    for up, lr in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        cfg = AugmentConfig(flipud=up, fliplr=lr)
        lab_view, lab_in = np.full((2, 5), 0.25), np.full((2, 5), 0.25)
        view = random_flip(im, lab_view, cfg, np.random.default_rng(2))
        inplace = random_flip(im.copy(), lab_in, cfg, np.random.default_rng(2), in_place=True)
        assert np.array_equal(view, inplace) and np.array_equal(lab_view, lab_in)


def test_retain_freed_memory_in_a_fresh_process():
    import platform
    import subprocess
    import sys

    code = "from yololab.data.dataset import retain_freed_memory; print(retain_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert out == str(glibc)
