"""``yololab convert``: YOLO -> COCO -> YOLO round trip on coco128 labels, VOC XML -> YOLO/COCO box
arithmetic against an independent computation, and the checks' summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from yololab.cli import main


def _labels(folder: Path) -> dict[str, np.ndarray]:
    """stem -> (n, 5) float64 rows of every .txt under ``folder``, parsed directly."""
    return {f.stem: np.loadtxt(f, ndmin=2).reshape(-1, 5) for f in sorted(folder.glob("*.txt"))}


def test_yolo_coco_yolo_round_trip_on_coco128(coco128: Path, tmp_path: Path, capsys) -> None:
    coco_out, yolo_out = tmp_path / "coco", tmp_path / "yolo"
    assert main(["convert", "--from", "yolo", "--to", "coco", str(coco128 / "data.yaml"), str(coco_out)]) == 0
    printed = capsys.readouterr().out
    assert "label files without an image" in printed  # coco128's 2 orphan label files, reported
    gt = json.loads((coco_out / "annotations" / "instances_val.json").read_text())
    assert len(gt["images"]) == 128 and len(gt["categories"]) == 80
    assert main(["convert", "--from", "coco", "--to", "yolo", "--image-dir", str(coco_out / "images" / "val"),
                 str(coco_out / "annotations" / "instances_val.json"), str(yolo_out)]) == 0
    before = _labels(coco128 / "labels" / "val2017")
    after = _labels(yolo_out / "labels" / "val")
    assert sorted(after) == sorted(before)
    for stem, rows in before.items():
        assert after[stem][:, 0].tolist() == rows[:, 0].tolist()
        # 6 significant digits written from float32: at most one unit in the last digit
        np.testing.assert_allclose(after[stem][:, 1:], rows[:, 1:], rtol=0, atol=1.01e-6)
    # the COCO boxes are the YOLO boxes in pixels (independent arithmetic on the original text)
    first = gt["images"][0]
    rows = before[Path(first["file_name"]).stem]
    w, h = first["width"], first["height"]
    boxes = [a["bbox"] for a in gt["annotations"] if a["image_id"] == first["id"]]
    expect = [[(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h] for _, cx, cy, bw, bh in rows]
    np.testing.assert_allclose(boxes, expect, atol=1e-3)


def _voc_expected(xml: Path, names: list[str]) -> tuple[list[list[float]], list[list[float]], list[int]]:
    """Independent devkit arithmetic: YOLO rows of the non-difficult objects, COCO boxes of all objects
    and their difficult flags (pixels xmin..xmax inclusive, 1-based: width xmax - xmin + 1)."""
    root = ET.parse(xml).getroot()
    w, h = int(root.findtext("size/width")), int(root.findtext("size/height"))
    yolo, coco, diff = [], [], []
    for o in root.iter("object"):
        x0, y0, x1, y1 = (int(o.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax"))
        d = int(o.findtext("difficult"))
        coco.append([x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1])
        diff.append(d)
        if not d:
            yolo.append([names.index(o.findtext("name")), (x0 - 1 + x1) / 2 / w, (y0 - 1 + y1) / 2 / h,
                         (x1 - x0 + 1) / w, (y1 - y0 + 1) / h])
    return yolo, coco, diff


def test_voc_to_yolo_and_coco_box_arithmetic(coco128_voc: Path, tmp_path: Path, capsys) -> None:
    yolo_out, coco_out = tmp_path / "yolo", tmp_path / "coco"
    assert main(["convert", "--from", "voc", "--to", "yolo", str(coco128_voc), str(yolo_out)]) == 0
    assert "VOC difficult objects" in capsys.readouterr().out
    import yaml

    names = list(yaml.safe_load((yolo_out / "data.yaml").read_text())["names"].values())
    written = _labels(yolo_out / "labels" / "val")
    xmls = sorted((coco128_voc / "Annotations").glob("*.xml"))
    assert main(["convert", "--from", "voc", "--to", "coco", str(coco128_voc), str(coco_out)]) == 0
    gt = json.loads((coco_out / "annotations" / "instances_val.json").read_text())
    assert len(gt["images"]) == len(written) == 8
    checked = 0
    for im in gt["images"]:
        stem = Path(im["file_name"]).stem
        xml = next(x for x in xmls if x.stem == stem)
        yolo, coco, diff = _voc_expected(xml, names)
        w, h = im["width"], im["height"]
        got = written[stem]
        assert got[:, 0].tolist() == [r[0] for r in yolo]
        np.testing.assert_allclose(got[:, 1:] * [w, h, w, h], np.asarray(yolo)[:, 1:] * [w, h, w, h], atol=1e-3)
        anns = [a for a in gt["annotations"] if a["image_id"] == im["id"]]
        np.testing.assert_allclose([a["bbox"] for a in anns], coco, atol=1e-3)
        assert [a["iscrowd"] for a in anns] == diff == [a["difficult"] for a in anns]
        checked += len(coco)
    assert checked > 20
    # keep: difficult objects are training boxes too
    keep_out = tmp_path / "keep"
    assert main(["convert", "--from", "voc", "--to", "yolo", "--voc-difficult", "keep", str(coco128_voc),
                 str(keep_out)]) == 0
    kept = _labels(keep_out / "labels" / "val")
    assert sum(len(v) for v in kept.values()) == len(gt["annotations"])


def test_convert_refuses_a_non_empty_destination(coco128_voc: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("")
    assert main(["convert", "--from", "voc", "--to", "yolo", str(coco128_voc), str(tmp_path / "out")]) == 2
    assert "not an empty folder" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["yolo", "coco"])
def test_converted_voc_scores_like_the_voc_folder(coco128_voc: Path, tmp_path: Path, target: str) -> None:
    """The same ground truth either way: the VOC folder and its COCO conversion give the same val split GT."""
    from yololab.data.source import open_split

    out = tmp_path / target
    assert main(["convert", "--from", "voc", "--to", target, str(coco128_voc), str(out)]) == 0
    voc = open_split(coco128_voc, "val", log=False)
    if target == "coco":
        conv = open_split(out / "annotations" / "instances_val.json", "val", out / "images" / "val", log=False)
        strip = lambda g: [{k: a[k] for k in ("image_id", "category_id", "bbox", "iscrowd")} for a in g["annotations"]]  # noqa: E731
        assert strip(conv.coco_gt) == strip(voc.coco_gt)
    else:
        conv = open_split(out / "data.yaml", "val", log=False)
    assert conv.names == voc.names
    for a, b in zip(sorted(voc.records, key=lambda r: Path(r.path).name),
                    sorted(conv.records, key=lambda r: Path(r.path).name)):
        np.testing.assert_allclose(a.labels, b.labels, atol=1e-6)
