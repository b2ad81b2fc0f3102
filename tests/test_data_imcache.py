"""``--cache ram|disk``: the same items as decoding each time, the size known (and refused) before any decoding,
disk entries reused until their image changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from yololab.data import AugmentConfig, DetectionDataset, load_split, make_synthetic_dataset
from yololab.data import imcache
from yololab.errors import UserError


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: the user cache in tmp_path


@pytest.fixture()
def synth(tmp_path):
    """Non-square images of two sizes (scaled down to 64: the cache holds resized images)."""
    yaml_path = make_synthetic_dataset(tmp_path / "syn", num_train=6, num_val=2, img_size=96)
    records, _ = load_split(yaml_path, "train", cache=False, log=False)
    return records


def items(ds: DetectionDataset, seed: int = 0) -> list:
    torch.manual_seed(seed)
    return [ds[i] for i in range(len(ds))]


@pytest.mark.parametrize("kind", ["ram", "disk"])
def test_cached_items_equal_decoded_items(synth, kind: str) -> None:
    aug = {"augment": True, "aug": AugmentConfig(degrees=5, mixup=0.5)}
    for kwargs in ({**aug, "mosaic": "canvas"}, {"rect": True, "batch_size": 3}):
        plain = items(DetectionDataset(synth, img_size=64, **kwargs))
        cached_ds = DetectionDataset(synth, img_size=64, cache=kind, **kwargs)
        for a, b in zip(plain, items(cached_ds)):
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[3] == b[3]
        again = items(cached_ds)  # the cache itself is never written by augmentation
        for a, b in zip(plain, again):
            assert torch.equal(a[0], b[0])


@pytest.mark.parametrize("kind", ["ram", "disk"])
def test_cached_warped_mosaics_have_the_same_labels_and_close_pixels(synth, kind: str) -> None:
    """The composed-warp mosaic samples a decoded image directly, or its cached resized copy: the same labels,
    pixels apart only by one resampling step."""
    kwargs = {"augment": True, "aug": AugmentConfig(degrees=5, mixup=0.5)}
    plain = items(DetectionDataset(synth, img_size=64, **kwargs))
    cached_ds = DetectionDataset(synth, img_size=64, cache=kind, **kwargs)
    for a, b in zip(plain, items(cached_ds)):
        assert torch.equal(a[1], b[1]) and a[3] == b[3]
        assert (a[0].float() - b[0].float()).abs().mean() < 6
    for a, b in zip(items(cached_ds), items(cached_ds)):  # the cache is never written by augmentation
        assert torch.equal(a[0], b[0])


def test_estimate_is_the_cached_bytes(synth) -> None:
    ds = DetectionDataset(synth, img_size=64, augment=True, cache="ram")
    assert imcache.cache_bytes(synth, 64) == sum(im.nbytes for im, _ in ds._cache)


def test_ram_cache_that_does_not_fit_is_refused(synth, monkeypatch) -> None:
    need = imcache.cache_bytes(synth, 64)
    monkeypatch.setattr(imcache, "available_memory", lambda: need)  # no room for the margin
    with pytest.raises(UserError, match=r"needs 0\.00 GB .*only 0\.00 GB of memory is available"):
        DetectionDataset(synth, img_size=64, cache="ram")
    with pytest.raises(UserError, match=r"x 4 processes"):
        imcache.check_ram(2**30, 3 * 2**30, processes=4)
    imcache.check_ram(2**30, 2 * 2**30)  # fits
    assert imcache.available_memory() > 0


def test_disk_entries_beside_the_images_reused_until_the_image_changes(synth) -> None:
    DetectionDataset(synth, img_size=64, augment=True, cache="disk")
    folder = Path(synth[0].path).parent
    entries = sorted((folder.parent / (folder.name + imcache.NPY_SUFFIX)).glob("*.npy"))
    assert len(entries) == len(synth)
    stamps = [e.stat().st_mtime_ns for e in entries]
    DetectionDataset(synth, img_size=64, augment=True, cache="disk")  # nothing rewritten
    assert [e.stat().st_mtime_ns for e in entries] == stamps
    os.utime(synth[0].path, ns=(1, 1))  # "edited": a new entry
    DetectionDataset(synth, img_size=64, augment=True, cache="disk")
    assert len(list(entries[0].parent.glob("*.npy"))) == len(synth) + 1
    first = imcache.npy_path(synth[0].path, 64, imcache.cv2_interpolation(True))
    assert np.load(first).shape[:2] == imcache.resized_hw(synth[0].width, synth[0].height, 64)


def test_bad_cache_kind_names_the_value(synth) -> None:
    with pytest.raises(UserError, match="cache 'gpu'"):
        DetectionDataset(synth, img_size=64, cache="gpu")


def test_train_flag_sets_the_config() -> None:
    import argparse

    from yololab.train.cli import add_train_parser, resolve_train_config

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    cfg = resolve_train_config(parser.parse_args(["train", "--data", "d.yaml", "--cache", "disk"]))
    assert cfg.cache == "disk"
    assert resolve_train_config(parser.parse_args(["train", "--data", "d.yaml"])).cache == "auto"
    cfg = resolve_train_config(parser.parse_args(["train", "--data", "d.yaml", "--cache", "none"]))
    assert imcache.check_cache_kind(cfg.cache) is None
