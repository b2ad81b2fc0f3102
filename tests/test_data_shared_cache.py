"""One decoded-image cache per machine and size: a 2-cell comparison decodes each training image once,
``cache: auto`` chooses (and says why), concurrent fills wait for each other, and a fill killed midway
leaves no corrupt entry and resumes."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from yololab.data import DetectionDataset, load_split, make_synthetic_dataset
from yololab.data import dataset as dataset_module
from yololab.data import imcache


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture()
def tiny(tmp_path):
    return make_synthetic_dataset(tmp_path / "syn", num_train=4, num_val=3, img_size=64, seed=1)


@pytest.fixture()
def decodes(monkeypatch) -> Counter:
    """Every decode of the training loader (full and DCT-scaled), by file name."""
    counts: Counter = Counter()
    real_full, real_scaled = dataset_module.read_image, dataset_module.read_image_scaled

    def full(path):
        counts[Path(path).name] += 1
        return real_full(path)

    def scaled(path, min_long):
        counts[Path(path).name] += 1
        return real_scaled(path, min_long)

    monkeypatch.setattr(dataset_module, "read_image", full)
    monkeypatch.setattr(dataset_module, "read_image_scaled", scaled)
    return counts


def _train_names(data_yaml: Path) -> list[str]:
    records, _ = load_split(data_yaml, "train", cache=False, log=False)
    return sorted(Path(r.path).name for r in records)


@pytest.mark.parametrize("cache", ["auto", "none"])
def test_a_two_cell_comparison_decodes_each_training_image_once(tiny, tmp_path, decodes, cache, one_thread) -> None:
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import spec_from_mapping

    spec = spec_from_mapping({"name": "decodes", "data": str(tiny), "models": ["yolov5n"], "backbones": ["native"],
                              "seeds": [0, 1], "epochs": 2, "imgsz": 64, "batch": 2, "workers": 0,
                              "eval_batch": 4, "cache": cache, "latency_backends": ["torch"]})
    result = run_compare(spec, tmp_path / "cmp", RunSettings(bench=False, report=False, progress=False))
    assert all(r.done for r in result.rows), result.rows
    names = _train_names(tiny)
    train = {n: decodes[n] for n in names}
    if cache == "auto":
        assert train == {n: 1 for n in names}  # once per machine and size, for both cells and both epochs
    else:
        assert sum(train.values()) > 2 * 2 * len(names)  # every cell, every epoch, 4 tiles per mosaic


def _records(tiny):
    return load_split(tiny, "train", cache=False, log=False)[0]


def test_auto_takes_ram_then_disk_then_none_and_says_why(tiny, monkeypatch, caplog) -> None:
    records = _records(tiny)
    need = imcache.cache_bytes(records, 64)
    with caplog.at_level(logging.INFO, logger="yololab"):
        ds = DetectionDataset(records, 64, augment=True, cache="auto", cache_processes=3)
    assert ds.cache == "ram" and "cache auto -> ram" in caplog.text and "x 3 process(es)" in caplog.text
    monkeypatch.setattr(imcache, "available_memory", lambda: 3 * need)  # not room for 3 copies + margin
    ds = DetectionDataset(records, 64, augment=True, cache="auto", cache_processes=3)
    assert ds.cache == "disk" and "cache auto -> disk" in ds.cache_choice.reason
    monkeypatch.setattr(imcache.shutil, "disk_usage", lambda p: type("U", (), {"free": 0})())
    paths = [imcache.npy_path(r.path, 96, imcache.cv2_interpolation(True)) for r in records]  # not written yet
    choice = imcache.choose_cache("auto", records, 96, paths, 3)
    assert choice.kind is None and "no room for the .npy entries" in choice.reason
    assert DetectionDataset(records, 64, augment=True, cache="none").cache is None


def test_concurrent_fills_decode_each_image_once(tiny, decodes) -> None:
    records = _records(tiny)
    errors = []

    def build():
        try:
            DetectionDataset(records, 64, augment=True, cache="disk")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(decodes.values()) == [1] * len(records)


def test_a_fill_killed_midway_leaves_no_corrupt_entry_and_resumes(tiny, monkeypatch, decodes) -> None:
    records = _records(tiny)
    real_save = np.save
    calls = {"n": 0}

    def dying_save(f, arr, allow_pickle=False):
        calls["n"] += 1
        if calls["n"] == 3:  # half an entry written, then the process "dies"
            f.write(b"\x93NUMPY partial")
            raise KeyboardInterrupt("killed")
        real_save(f, arr, allow_pickle=allow_pickle)

    monkeypatch.setattr(imcache.np, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        DetectionDataset(records, 64, augment=True, cache="disk", cache_processes=1)
    monkeypatch.setattr(imcache.np, "save", real_save)
    paths = [imcache.npy_path(r.path, 64, imcache.cv2_interpolation(True)) for r in records]
    for p in paths:  # every entry that exists is whole
        if p.is_file():
            assert imcache.load_npy(p) is not None
    assert sum(p.is_file() for p in paths) < len(paths)
    # an exception lets the writer remove its temporary file; a SIGKILL would leave it, and the next fill
    # removes such leftovers (planted here)
    (paths[0].parent / f".{paths[-1].name}.abc123.tmp").write_bytes(b"\x93NUMPY partial")
    ds = DetectionDataset(records, 64, augment=True, cache="disk")  # the re-run finishes the cache
    assert not list(paths[0].parent.glob(".*.tmp"))
    for i, p in enumerate(paths):
        assert np.array_equal(imcache.load_npy(p), ds._read_resized(i)[0])
    paths[0].write_bytes(b"\x93NUMPY garbage")  # a damaged entry is decoded again, never used
    ds = DetectionDataset(records, 64, augment=True, cache="ram")
    assert np.array_equal(ds._cache[0][0], ds._read_resized(0)[0])
