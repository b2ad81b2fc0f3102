"""Label cache: JSON next to the labels, reused when unchanged, refreshed per file, user dir when read-only."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololab.data import load_records
from yololab.data import records as records_mod
from yololab.data.cache import CACHE_VERSION
from yololab.data.records import cache_path_for


@pytest.fixture
def user_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path / "xdg-cache" / "yololab"


@pytest.fixture
def scans(monkeypatch) -> list[str]:
    """Image paths passed to scan_item (i.e. not served from the cache)."""
    calls: list[str] = []
    real = records_mod.scan_item

    def counting(image_path, label_path):
        calls.append(Path(image_path).name)
        return real(image_path, label_path)

    monkeypatch.setattr(records_mod, "scan_item", counting)
    return calls


@pytest.fixture
def ds(tmp_path) -> Path:
    img_dir, lab_dir = tmp_path / "ds/images/train", tmp_path / "ds/labels/train"
    img_dir.mkdir(parents=True)
    lab_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(img_dir / f"{i}.jpg"), rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
        (lab_dir / f"{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.25 0.25\n")
    return img_dir


def _bump_mtime(p: Path) -> None:
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_cache_written_as_json_and_reused(ds, user_cache, scans):
    recs1, rep1 = load_records(ds, 2, log=False)
    cache_file = ds.parents[1] / "labels" / "train.yololab-cache.json"
    assert cache_path_for(ds) == cache_file.resolve() and cache_file.is_file()
    data = json.loads(cache_file.read_text())  # plain JSON, no pickle
    assert data["version"] == CACHE_VERSION and len(data["items"]) == 4 and len(data["hash"]) == 64
    assert len(scans) == 4 and not user_cache.exists()
    scans.clear()
    recs2, rep2 = load_records(ds, 2, log=False)
    assert scans == []
    assert rep2 == rep1
    assert [(r.path, r.width, r.height, r.labels.tolist()) for r in recs2] == \
           [(r.path, r.width, r.height, r.labels.tolist()) for r in recs1]


def test_cache_invalidated_by_changes(ds, user_cache, scans):
    load_records(ds, 2, log=False)
    lab = ds.parents[1] / "labels/train/2.txt"
    lab.write_text("1 0.5 0.5 0.5 0.5\n1 0.2 0.2 0.1 0.1\n")
    _bump_mtime(lab)
    scans.clear()
    recs, _ = load_records(ds, 2, log=False)
    assert scans == ["2.jpg"]
    assert len({Path(r.path).name: r for r in recs}["2.jpg"].labels) == 2

    scans.clear()
    _bump_mtime(ds / "0.jpg")  # touched image, same content: re-checked
    load_records(ds, 2, log=False)
    assert scans == ["0.jpg"]

    scans.clear()
    (ds / "3.jpg").unlink()  # a deleted image disappears without re-checking the others
    lab3 = ds.parents[1] / "labels/train/3.txt"
    recs, rep = load_records(ds, 2, log=False)
    assert scans == [] and len(recs) == 3 and rep.orphan_label == 1 and lab3.exists()

    scans.clear()
    (ds.parents[1] / "labels/train/1.txt").unlink()  # a removed label: that image re-checked, now background
    recs, rep = load_records(ds, 2, log=False)
    assert scans == ["1.jpg"] and rep.missing_label == 1


def test_class_check_not_baked_into_cache(ds, user_cache, scans):
    _, rep2 = load_records(ds, 2, log=False)
    scans.clear()
    _, rep1 = load_records(ds, 1, log=False)  # fewer names: class 1 now out of range, from the cache
    assert scans == [] and rep2.class_out_of_range == 0 and rep1.class_out_of_range == 2


def test_read_only_folder_uses_user_cache(ds, user_cache, scans):
    labels_root = ds.parents[1] / "labels"
    before = sorted(p.name for p in labels_root.iterdir())
    labels_root.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        load_records(ds, 2, log=False)
        assert sorted(p.name for p in labels_root.iterdir()) == before  # nothing written there, even as root
        cached = list(user_cache.glob("train-*.yololab-cache.json"))
        assert len(cached) == 1
        scans.clear()
        load_records(ds, 2, log=False)
        assert scans == []
    finally:
        labels_root.chmod(0o755)


def test_corrupt_cache_is_rebuilt(ds, user_cache, scans):
    cache_file = ds.parents[1] / "labels" / "train.yololab-cache.json"
    cache_file.write_text("{not json")
    recs, _ = load_records(ds, 2, log=False)
    assert len(recs) == 4 and len(scans) == 4
    assert json.loads(cache_file.read_text())["version"] == CACHE_VERSION


def test_cache_disabled_and_txt_list(ds, user_cache, scans, tmp_path):
    load_records(ds, 2, cache=False, log=False)
    assert not (ds.parents[1] / "labels" / "train.yololab-cache.json").exists()
    lst = tmp_path / "ds" / "subset.txt"
    lst.write_text("./images/train/0.jpg\n./images/train/1.jpg\n./images/train/missing.jpg\n")
    recs, rep = load_records(lst, 2, log=False)
    assert len(recs) == 2 and rep.missing_image == 1
    assert (tmp_path / "ds" / "subset.yololab-cache.json").is_file()
