"""YOLO format: data YAML parsing, image listing, label paths, and the real coco128 data."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from yololab.data import find_images, image_to_label_path, load_data_config, load_split
from yololab.data.formats.yolo_format import label_dir_for


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: the user cache in tmp_path


def _write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


# --- data YAML ---------------------------------------------------------------------------------

def test_config_relative_path_and_names_dict(tmp_path):
    y = _write(tmp_path / "cfg" / "d.yaml", "path: ../ds\ntrain: images/train\nval: [images/val, extra.txt]\n"
                                            "names: {0: cat, 1: dog}\n")
    cfg = load_data_config(y)
    root = (tmp_path / "ds").resolve()
    assert cfg.root == root
    assert cfg.train == [root / "images/train"]
    assert cfg.val == [root / "images/val", root / "extra.txt"]
    assert cfg.test is None
    assert cfg.names == ["cat", "dog"] and cfg.nc == 2


def test_config_names_list_and_default_root(tmp_path):
    cfg = load_data_config(_write(tmp_path / "d.yaml", "train: a\nval: b\ntest: c\nnames: [x, y, z]\n"))
    assert cfg.root == tmp_path.resolve() and cfg.test == [tmp_path.resolve() / "c"] and cfg.names == ["x", "y", "z"]


@pytest.mark.parametrize("missing", ["train", "val", "names"])
def test_config_missing_key_is_clear_error(tmp_path, missing):
    keys = {"train": "train: a", "val": "val: b", "names": "names: [x]"}
    y = _write(tmp_path / "bad.yaml", "\n".join(v for k, v in keys.items() if k != missing) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.yaml.*{missing}"):
        load_data_config(y)


def test_config_bad_names(tmp_path):
    with pytest.raises(ValueError, match="without gaps"):
        load_data_config(_write(tmp_path / "d.yaml", "train: a\nval: b\nnames: {0: a, 2: b}\n"))
    with pytest.raises(ValueError, match="nc=3"):
        load_data_config(_write(tmp_path / "e.yaml", "train: a\nval: b\nnc: 3\nnames: [a, b]\n"))


def test_config_unknown_key_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="yololab"):
        cfg = load_data_config(_write(tmp_path / "d.yaml", "train: a\nval: b\nnames: [a]\ncolour: red\n"))
    assert "colour" in caplog.text and cfg.extra == {"colour": "red"}


def test_find_images_folder_txt_and_list(tmp_path):
    for name in ["images/train/b.jpg", "images/train/sub/a.PNG", "images/train/notes.md", "images/val/c.jpg"]:
        _write(tmp_path / name, "x")
    _write(tmp_path / "list.txt", "./images/val/c.jpg\nimages/train/b.jpg\n\n")
    folder = find_images(tmp_path / "images/train")
    assert [p.name for p in folder] == ["b.jpg", "a.PNG"]
    listed = find_images(tmp_path / "list.txt")
    assert listed == [tmp_path / "images/train/b.jpg", tmp_path / "images/val/c.jpg"]
    both = find_images([tmp_path / "images/train", tmp_path / "list.txt"])
    assert len(both) == 3  # b.jpg appears in both and is listed once
    with pytest.raises(FileNotFoundError, match="nope"):
        find_images(tmp_path / "nope")


def test_label_path_convention():
    assert image_to_label_path("/d/images/train/x.jpg") == Path("/d/labels/train/x.txt")
    # only the last 'images' component is replaced
    assert image_to_label_path("/images/ds/images/a/b.png") == Path("/images/ds/labels/a/b.txt")
    assert image_to_label_path("/d/pics/x.jpeg") == Path("/d/pics/x.txt")
    assert label_dir_for("/d/images/val") == Path("/d/labels/val")


# --- real data -----------------------------------------------------------------------------------

def test_coco128_val_is_clean(coco128):
    records, report = load_split(coco128 / "data.yaml", "val", log=False)
    assert report.images == 128 and report.images_listed == 128
    assert report.boxes == 898 == sum(len(r.labels) for r in records)
    assert report.issues() == {}
    assert [r.path for r in records] == sorted(r.path for r in records)
    for r in records:
        assert r.labels.dtype == np.float32 and r.labels.shape[1] == 5
        assert (r.labels[:, 1:] >= 0).all() and (r.labels[:, 1:] <= 1).all()
        assert ((r.labels[:, 0] >= 0) & (r.labels[:, 0] < 80)).all()
    by_name = {Path(r.path).name: r for r in records}
    assert (by_name["000000000139.jpg"].width, by_name["000000000139.jpg"].height) == (640, 426)


def test_coco128_train_inconsistencies_reported_once(coco128, caplog):
    """train2017 has 2 images without labels and 2 label files (12 boxes) without images: 941 = 929 + 12."""
    with caplog.at_level(logging.INFO, logger="yololab"):
        records, report = load_split(coco128 / "data.yaml", "train")
    assert report.images == 128 and report.boxes == 929
    assert report.missing_label == 2 and report.backgrounds == 2
    assert report.orphan_label == 2 and report.orphan_boxes == 12
    assert report.boxes + report.orphan_boxes == 941  # the dataset doc's count
    assert set(report.issues()) == {"missing_label", "orphan_label"}
    assert sorted(report.examples["missing_label"]) == ["000000000250.jpg", "000000000508.jpg"]
    warnings = [r for r in caplog.records if r.name == "yololab" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "000000000656.txt" in warnings[0].getMessage() and "000000000250.jpg" in warnings[0].getMessage()
    assert {Path(r.path).name for r in records if not len(r.labels)} == {"000000000250.jpg", "000000000508.jpg"}
