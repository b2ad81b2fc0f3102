"""Issue 30, item 5: the image cache checks its entries (shape, dtype, length) instead of trusting them; a
wrong or unreadable entry is reported once and decoded again once, under the fill lock; a symbolic link
for a cache folder or for its ``.fill.lock`` is refused before anything is decoded."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from yololab.atomic import UnsafePathError
from yololab.data import DetectionDataset, imcache, load_split, make_synthetic_dataset


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setattr(imcache, "_REPORTED", set(), raising=False)
    monkeypatch.setattr(imcache, "_REDONE", set(), raising=False)


@pytest.fixture()
def records(tmp_path):
    yaml_path = make_synthetic_dataset(tmp_path / "syn", num_train=3, num_val=1, img_size=96)
    return load_split(yaml_path, "train", cache=False, log=False)[0]


def _entries(records) -> list[Path]:
    return [imcache.npy_path(r.path, 64, imcache.cv2_interpolation(False)) for r in records]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "cache entry" in r.getMessage()]


@pytest.mark.parametrize("bad", ["5x5x3", "float64 2-D", "truncated"])
def test_a_wrong_entry_is_redone_once_at_fill_and_reported_once(records, bad: str, caplog) -> None:
    # main: a valid array of another shape was used as the training image with the original labels, and a
    # truncated entry was warned about on every access and never rewritten
    DetectionDataset(records, img_size=64, cache="disk")
    entry = _entries(records)[0]
    good = np.load(entry)
    if bad == "5x5x3":
        np.save(entry, np.zeros((5, 5, 3), np.uint8))
    elif bad == "float64 2-D":
        np.save(entry, np.zeros(good.shape[:2], np.float64))
    else:
        entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    caplog.set_level(logging.WARNING, "yololab")
    ds = DetectionDataset(records, img_size=64, cache="disk")
    assert np.array_equal(np.load(entry), good)  # rewritten under the lock
    for _ in range(3):
        assert np.array_equal(ds.load_image(0)[0], good)
    warned = _warnings(caplog)
    assert len(warned) == 1 and str(entry) in warned[0]


def test_an_entry_spoiled_after_the_fill_is_redone_once_on_access(records, caplog) -> None:
    ds = DetectionDataset(records, img_size=64, cache="disk")
    entry = _entries(records)[1]
    good = np.load(entry)
    np.save(entry, np.zeros((5, 5, 3), np.uint8))
    caplog.set_level(logging.WARNING, "yololab")
    for _ in range(3):
        img = ds.load_image(1)[0]
        assert img.shape == good.shape and np.array_equal(img, good)
    assert np.array_equal(np.load(entry), good)
    assert len(_warnings(caplog)) == 1


def test_a_symlinked_cache_folder_is_refused(records, tmp_path: Path) -> None:
    # main: the entries were written into the folder the link named
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = _entries(records)[0].parent
    folder.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="yololab-npy: it is a symbolic link"):
        DetectionDataset(records, img_size=64, cache="disk")
    assert not list(elsewhere.iterdir())


def test_a_dangling_fill_lock_link_is_refused(records, tmp_path: Path) -> None:
    # main: os.open followed the dangling link and created the file it named
    folder = _entries(records)[0].parent
    folder.mkdir()
    target = tmp_path / "planted.txt"
    (folder / ".fill.lock").symlink_to(target)
    with pytest.raises(UnsafePathError, match=r"\.fill\.lock: it is a symbolic link"):
        DetectionDataset(records, img_size=64, cache="disk")
    assert not target.exists() and not list(folder.glob("*.npy"))
