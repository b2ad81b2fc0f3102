"""Issue 30, item 7: a path read from a data set index (VOC ImageSets ids, YOLO .txt list lines) stays in
the data root unless the data YAML opts in with ``allow_outside_root: true``."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from yololab.cli import main
from yololab.data.formats.paths import PathEscapeError
from yololab.data.records import load_split
from yololab.data.formats.voc_xml import VocObject, write_voc_xml


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((48, 64, 3), 90, np.uint8)
    cv2.rectangle(img, (10, 10), (40, 30), (0, 200, 0), -1)
    cv2.imwrite(str(path), img)


def _voc_item(folder_xml: Path, folder_img: Path, image_id: str) -> None:
    _image(folder_img / f"{image_id}.jpg")
    folder_xml.mkdir(parents=True, exist_ok=True)
    write_voc_xml(folder_xml / f"{image_id}.xml", f"{image_id}.jpg", (64, 48), [VocObject("dog", (11, 11, 40, 30))])


@pytest.fixture
def evil_voc(tmp_path: Path) -> Path:
    """A VOC root whose train set lists ``../../../../outside/evilid``: an XML and image outside the root."""
    root = tmp_path / "data" / "VOC" / "VOC2007"
    for image_id in ("a", "b"):
        _voc_item(root / "Annotations", root / "JPEGImages", image_id)
    outside = tmp_path / "outside"
    _voc_item(outside, outside, "evilid")
    main_sets = root / "ImageSets" / "Main"
    main_sets.mkdir(parents=True)
    # from Annotations/: VOC2007, VOC, data, tmp_path -> tmp_path/outside/evilid
    (main_sets / "train.txt").write_text("a\n../../../../outside/evilid\n")
    (main_sets / "val.txt").write_text("b\n")
    return root


def test_voc_id_outside_the_root_is_refused_and_not_copied_in(evil_voc: Path, tmp_path: Path, capsys) -> None:
    # main: convert --copy read outside/evilid.xml and copied outside/evilid.jpg into the output (rc 0)
    dst = tmp_path / "converted"
    rc = main(["convert", "--from", "voc", "--to", "yolo", "--copy", str(evil_voc), str(dst)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "train.txt line 2" in err and "outside the data root" in err and "allow_outside_root" in err
    assert not dst.exists() or not list(dst.rglob("evilid*"))


def test_voc_yaml_opts_in_to_ids_outside_its_root(evil_voc: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "voc.yaml"
    data.write_text(yaml.safe_dump({"format": "voc", "path": str(evil_voc), "train": "train", "val": "val",
                                    "names": ["dog"], "allow_outside_root": True}))
    dst = tmp_path / "converted"
    assert main(["convert", "--from", "voc", "--to", "yolo", "--copy", str(data), str(dst)]) == 0
    assert [p.name for p in dst.rglob("evilid*.jpg")] == ["evilid.jpg"]
    data.write_text(data.read_text().replace("allow_outside_root: true", "allow_outside_root: 'yes'"))
    capsys.readouterr()
    assert main(["convert", "--from", "voc", "--to", "yolo", str(data), str(tmp_path / "again")]) == 2
    assert "voc.yaml: allow_outside_root must be true or false, got 'yes'" in capsys.readouterr().err


@pytest.fixture
def evil_yolo(tmp_path: Path) -> Path:
    """A YOLO data YAML whose train list names an image outside the data root."""
    root = tmp_path / "yolo"
    for name in ("a", "b"):
        _image(root / "images" / f"{name}.jpg")
        (root / "labels").mkdir(exist_ok=True)
        (root / "labels" / f"{name}.txt").write_text("0 0.4 0.4 0.3 0.3\n")
    _image(tmp_path / "outside" / "images" / "evil.jpg")
    (tmp_path / "outside" / "labels").mkdir()
    (tmp_path / "outside" / "labels" / "evil.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "train.txt").write_text("images/a.jpg\n../outside/images/evil.jpg\n")
    (root / "val.txt").write_text(f"{root / 'images' / 'b.jpg'}\n")  # absolute but inside: fine
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": ".", "train": "train.txt", "val": "val.txt", "names": ["thing"]}))
    return data


def test_yolo_list_line_outside_the_root_is_refused(evil_yolo: Path, tmp_path: Path, capsys) -> None:
    # main: the outside image and its label were read as training data
    with pytest.raises(PathEscapeError, match=r"train.txt line 2 names .*evil.jpg.*outside the data root"):
        load_split(evil_yolo, "train", cache=False, log=False)
    records, _ = load_split(evil_yolo, "val", cache=False, log=False)
    assert [Path(r.path).name for r in records] == ["b.jpg"]
    rc = main(["convert", "--from", "yolo", "--to", "yolo", "--copy", str(evil_yolo), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "train.txt line 2" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("evil*"))


def test_yolo_yaml_opts_in_to_list_lines_outside_its_root(evil_yolo: Path) -> None:
    cfg = yaml.safe_load(evil_yolo.read_text())
    evil_yolo.write_text(yaml.safe_dump({**cfg, "allow_outside_root": True}))
    records, _ = load_split(evil_yolo, "train", cache=False, log=False)
    assert sorted(Path(r.path).name for r in records) == ["a.jpg", "evil.jpg"]
