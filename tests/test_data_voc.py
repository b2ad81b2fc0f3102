"""Pascal VOC data sets through ``open_split``: devkit box arithmetic, difficult objects, class names,
malformed XML in the report, and scoring (difficult ignored) on real coco128 photos."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import write_voc_from_yolo
from yololab.data.source import open_split
from yololab.data.formats.voc_xml import VOC_CLASSES
from yololab.eval.coco import evaluate_coco


def _xml_objects(xml: Path) -> tuple[tuple[int, int], list[tuple[str, list[float], bool]]]:
    """Size and (name, [xmin, ymin, xmax, ymax], difficult) per object, read with ElementTree directly."""
    root = ET.parse(xml).getroot()
    size = int(root.findtext("size/width")), int(root.findtext("size/height"))
    objs = [(o.findtext("name"), [float(o.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")],
             o.findtext("difficult") == "1") for o in root.iter("object")]
    return size, objs


def test_voc_boxes_follow_the_devkit_convention(coco128_voc: Path) -> None:
    split = open_split(coco128_voc, "val", log=False)
    assert len(split.records) == 8 and split.report.images == 8
    found = sorted({o[0] for x in (coco128_voc / "Annotations").glob("*.xml") for o in _xml_objects(x)[1]})
    assert split.names == found  # coco names are not VOC classes: the found names, sorted
    assert split.category_ids == list(range(len(found)))
    gt_by_image: dict = {}
    for a in split.coco_gt["annotations"]:
        gt_by_image.setdefault(a["image_id"], []).append(a)
    difficult = 0
    for rec in split.records:
        (w, h), objs = _xml_objects(coco128_voc / "Annotations" / f"{Path(rec.path).stem}.xml")
        assert (rec.width, rec.height) == (w, h)
        # pixels xmin..xmax inclusive, 1-based: the continuous box is [xmin - 1, xmax]
        expect = np.array([[found.index(n), (b[0] - 1 + b[2]) / 2 / w, (b[1] - 1 + b[3]) / 2 / h,
                            (b[2] - b[0] + 1) / w, (b[3] - b[1] + 1) / h] for n, b, d in objs if not d]).reshape(-1, 5)
        np.testing.assert_allclose(rec.labels[:, 1:] * [w, h, w, h], expect[:, 1:] * [w, h, w, h], atol=1e-3)
        assert rec.labels[:, 0].tolist() == expect[:, 0].tolist()
        anns = gt_by_image[rec.image_id]
        assert rec.image_id == int(Path(rec.path).stem)
        assert [a["bbox"] for a in anns] == [[b[0] - 1, b[1] - 1, b[2] - b[0] + 1, b[3] - b[1] + 1] for _, b, _ in objs]
        assert [a["iscrowd"] for a in anns] == [int(d) for _, _, d in objs]
        difficult += sum(d for _, _, d in objs)
    assert difficult > 0 and split.report.difficult_box == difficult
    assert split.report.boxes == sum(len(r.labels) for r in split.records)


def test_voc_yaml_keeps_difficult_and_takes_names(coco128_voc: Path, tmp_path: Path) -> None:
    names = open_split(coco128_voc, "train", log=False).names[::-1]
    cfg = tmp_path / "voc.yaml"
    cfg.write_text(yaml.safe_dump({"format": "voc", "path": str(coco128_voc), "train": "train",
                                   "val": [str(coco128_voc / "ImageSets" / "Main" / "val.txt")],
                                   "names": names, "voc_difficult": "keep"}))
    kept = open_split(cfg, "val", log=False)
    dropped = open_split(coco128_voc, "val", log=False)
    assert kept.names == names
    assert kept.report.boxes == dropped.report.boxes + dropped.report.difficult_box
    assert kept.coco_gt["annotations"] == [dict(a, category_id=names.index(dropped.names[a["category_id"]]))
                                           for a in dropped.coco_gt["annotations"]]


def test_voc_class_names_and_problems_reported(coco128: Path, tmp_path: Path) -> None:
    photos = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:4]
    names = ["person"] * 80  # every coco128 object becomes a VOC 'person'
    root = write_voc_from_yolo(photos, names, tmp_path / "VOC", {"val": photos})
    ann = root / "Annotations"
    (ann / f"{photos[1].stem}.xml").write_text("<annotation><object><name>dog")  # not well-formed
    text = (ann / f"{photos[2].stem}.xml").read_text()
    (ann / f"{photos[2].stem}.xml").write_text(text.replace("<bndbox>", "<box>", 1).replace("</bndbox>", "</box>", 1))
    text = (ann / f"{photos[3].stem}.xml").read_text()
    (ann / f"{photos[3].stem}.xml").write_text(text.replace("<name>person</name>", "<name>unicorn</name>", 1))
    cfg = tmp_path / "voc.yaml"
    cfg.write_text(yaml.safe_dump({"format": "voc", "path": str(root), "train": "val", "val": "val",
                                   "names": ["person"]}))
    named = open_split(cfg, "val", log=False)
    rep = named.report
    assert rep.corrupt_label == 1 and photos[1].stem in rep.examples["corrupt_label"][0]
    assert rep.malformed_line == 1 and f"{photos[2].stem}.xml (object 1" in rep.examples["malformed_line"][0]
    assert rep.unknown_class == 1 and "unicorn" in rep.examples["unknown_class"][0]
    assert rep.images == 3 and "corrupt_label" in rep.issues()
    # names from the XMLs: every found name is a VOC class -> the standard 20 in devkit order
    (ann / f"{photos[3].stem}.xml").write_text(text.replace("<name>person</name>", "<name>dog</name>", 1))
    inferred = open_split(root, "val", log=False)
    assert inferred.names == list(VOC_CLASSES) and inferred.names.index("dog") == 11


def test_difficult_objects_are_ignored_by_the_coco_protocol(coco128_voc: Path) -> None:
    gt = open_split(coco128_voc, "val", log=False).coco_gt
    regular = [a for a in gt["annotations"] if not a["iscrowd"]]
    assert 0 < len(regular) < len(gt["annotations"])
    det = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
           for a in regular]
    on_difficult = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.95}
                    for a in gt["annotations"] if a["iscrowd"]]
    assert evaluate_coco(gt, det)["map50_95"] == pytest.approx(1.0)  # missed difficult objects cost nothing
    assert evaluate_coco(gt, det + on_difficult)["map50_95"] == pytest.approx(1.0)  # hits on them: no FP
    as_regular = json.loads(json.dumps(gt))
    for a in as_regular["annotations"]:
        a["iscrowd"] = 0
    assert evaluate_coco(as_regular, det)["map50_95"] < 0.99  # the same detections if difficult counted


def test_train_and_val_on_a_voc_folder(coco128_voc: Path, tmp_path: Path, one_thread) -> None:
    from yololab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", str(coco128_voc), "--model", "yolov5n", "--epochs", "1", "--imgsz", "64",
                 "--batch", "4", "--workers", "0", "--device", "cpu", "--no-progress", "--no-plots",
                 "--out", str(out)]) == 0
    report = json.loads((out / "data_report.json").read_text())
    assert report["val"]["difficult_box"] > 0 and report["train"]["images"] == 12
    assert main(["val", "--weights", str(out / "weights" / "last.pt"), "--data", str(coco128_voc),
                 "--imgsz", "64", "--device", "cpu", "--workers", "0", "--metric", "voc07",
                 "--json", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert "map50_95" in metrics and "voc07_map50" in metrics


def test_compare_scores_a_voc_folder(coco128_voc: Path, tmp_path: Path, one_thread) -> None:
    """compare's cells (dry-run trainer: an untrained model) are scored through the VOC ground truth."""
    from yololab.experiments.run import dryrun
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import spec_from_mapping

    spec = spec_from_mapping({"name": "voc", "data": str(coco128_voc), "models": ["yolov5n"], "backbones": ["native"],
                              "seeds": [0], "epochs": 1, "imgsz": 64, "batch": 2, "workers": 0, "eval_batch": 4,
                              "latency_runs": 1, "latency_warmup": 1, "latency_backends": ["torch"]})
    row = run_compare(spec, tmp_path, RunSettings(train_fn=dryrun.train, report=False)).rows[0]
    names = open_split(coco128_voc, "val", log=False).names
    assert row.provenance.num_val_images == 8 and set(row.accuracy.per_class) <= set(names)
    assert 0.0 <= row.accuracy.map50_95 <= 1.0
