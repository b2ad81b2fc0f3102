"""Issue 20, outside training: predict never writes over its inputs or through a planted link, network
sources only on request, label files cannot point outside their data root, and scoring refuses
invalid boxes, scores and records (or drops them consistently)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from yololab.atomic import UnsafePathError, WriteError, atomic_write_text
from yololab.cli import main
from yololab.data.formats.coco_format import load_coco_records
from yololab.data.formats.convert import convert
from yololab.data.formats.paths import PathEscapeError
from yololab.data.formats.voc_xml import VocObject, write_voc_xml
from yololab.deploy.sources import NetworkSourceError, Url, resolve_source
from yololab.eval.coco import evaluate_coco
from yololab.eval.scoring_input import ScoringInputError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def photos(coco128, tmp_path) -> Path:
    """Two real coco128 photos copied into a folder of their own."""
    src = tmp_path / "photos"
    src.mkdir()
    for f in sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:2]:
        shutil.copyfile(f, src / f.name)
    return src


# ---------------------------------------------------------------- the writer
def test_writer_refuses_links_and_folders_outside_its_root(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.json").symlink_to(victim)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        atomic_write_text(out / "a.json", "x", out)
    (out / "sub").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside the output folder"):
        atomic_write_text(out / "sub" / "b.json", "x", out)
    with pytest.raises(UnsafePathError, match="outside the output folder"):  # no folder made out there
        atomic_write_text(out / "sub" / "new" / "c.json", "x", out)
    assert victim.read_text() == "keep" and not (tmp_path / "b.json").exists() and not (tmp_path / "new").exists()


def test_writer_turns_a_full_disk_into_one_sentence(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "results.json"
    path.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match=f"could not write {path}: No space left on device.*previous version is intact"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


# ---------------------------------------------------------------- predict
def test_predict_into_its_source_is_refused(yolov5n_pt: Path, photos: Path, capsys) -> None:
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    for out in (photos, photos.parent):
        assert main(["predict", "--weights", str(yolov5n_pt), "--source", str(photos), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"--out {out} holds 2 of the input images" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


def test_predict_refuses_a_planted_predictions_link(yolov5n_pt: Path, photos: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    out = tmp_path / "pred"
    out.mkdir()
    (out / "predictions.json").symlink_to(victim)
    code = main(["predict", "--weights", str(yolov5n_pt), "--source", str(photos), "--out", str(out),
                 "--imgsz", "160", "--threads", "1", "--no-images"])
    assert code == 2 and victim.read_text() == "precious"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.jpg", "rtsp://127.0.0.1:9/stream"])
def test_network_sources_need_allow_network(yolov5n_pt: Path, tmp_path: Path, photos: Path, url: str,
                                            capsys) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{next(photos.iterdir())}\n{url}\n")
    for source in (url, str(listing)):
        assert main(["predict", "--weights", str(yolov5n_pt), "--source", source, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert url in err and "--allow-network" in err
        with pytest.raises(NetworkSourceError):
            resolve_source(source)
    files = resolve_source(str(listing), allow_network=True)  # allowed: kept as a stream, nothing opened yet
    assert isinstance(files[1], Url) and files[1] == url


# ---------------------------------------------------------------- label paths
def _voc_root(tmp_path: Path, filename: str) -> Path:
    root = tmp_path / "VOC"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    write_voc_xml(root / "Annotations" / "a.xml", filename, (64, 64), [VocObject("dog", (5, 5, 40, 40))])
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\n")
    return root


def test_voc_filename_may_not_leave_the_data_root(tmp_path: Path, photos: Path) -> None:
    shutil.copyfile(next(photos.iterdir()), tmp_path / "secret.jpg")
    root = _voc_root(tmp_path, "../../secret.jpg")
    with pytest.raises(PathEscapeError, match=r"a\.xml <filename> names the image '\.\./\.\./secret\.jpg'"):
        convert("voc", "yolo", root, tmp_path / "out", copy_images=True)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.jpg"))


def test_coco_file_name_may_not_leave_the_image_dir(tmp_path: Path) -> None:
    gt = {"images": [{"id": 1, "file_name": "../outside.jpg", "width": 64, "height": 64}], "annotations": [],
          "categories": [{"id": 1, "name": "dog"}]}
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(gt))
    (tmp_path / "images").mkdir()
    with pytest.raises(PathEscapeError, match="outside the data root"):
        load_coco_records(path, tmp_path / "images", check_images=False, log=False)


def test_convert_into_its_source_is_refused(tmp_path: Path, coco128: Path) -> None:
    root = _voc_root(tmp_path, "a.jpg")
    with pytest.raises(ValueError, match="holds the source"):
        convert("voc", "yolo", root / "JPEGImages" / "..", root)


# ---------------------------------------------------------------- scoring input
def _gt() -> dict:
    return {"images": [{"id": 1, "width": 100, "height": 100, "file_name": "a.jpg"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900,
                             "iscrowd": 0}],
            "categories": [{"id": 1, "name": "dog"}]}


GOOD = {"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9}


@pytest.mark.parametrize("bad, words", [
    ({**GOOD, "bbox": [10, 10, -30, 30]}, "negative width"),
    ({**GOOD, "bbox": [float("nan"), 10, 30, 30]}, "not finite"),
    ({**GOOD, "score": float("inf")}, "score inf is not finite"),
    ({**GOOD, "bbox": [10, 10, 30]}, "not 4 numbers"),
    ({**GOOD, "score": "high"}, "score 'high' is not a number"),
    ({k: v for k, v in GOOD.items() if k != "bbox"}, "has no bbox"),
])
def test_invalid_detections_are_refused_with_count_and_offender(bad: dict, words: str) -> None:
    with pytest.raises(ScoringInputError, match="1 of 3 detections cannot be scored") as info:
        evaluate_coco(_gt(), [GOOD, bad, GOOD])
    assert "#1 " in str(info.value) and words in str(info.value)


def test_invalid_ground_truth_is_refused(tmp_path: Path, capsys) -> None:
    gt = _gt()
    gt["annotations"].append({"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 0, -4]})
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps([GOOD]))
    assert main(["val", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json")]) == 2
    err = capsys.readouterr().err
    assert "1 of 2 ground-truth annotations cannot be scored (#1 bbox [50, 50, 0, -4]" in err
    assert "Traceback" not in err


def test_loader_drops_invalid_gt_boxes_from_the_score_too(tmp_path: Path, photos: Path) -> None:
    """A COCO JSON with a negative-size box: the box the loader reports dropped is gone from the
    ground truth that is scored (and saved by --save-gt), not only from training."""
    from PIL import Image

    image = next(photos.iterdir())
    with Image.open(image) as im:
        width, height = im.size
    gt = _gt()
    gt["images"][0].update(file_name=image.name, width=width, height=height)
    gt["annotations"].append({"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, -20, 20], "area": 400,
                              "iscrowd": 0})
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    coco = load_coco_records(tmp_path / "gt.json", photos, log=False)
    assert coco.report.degenerate_box == 1
    assert [a["id"] for a in coco.gt["annotations"]] == [1]
    assert len(coco.records[0].labels) == 1
