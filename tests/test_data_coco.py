"""COCO JSON loading: contiguous classes with the way back to category ids, crowd and bad boxes counted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from yololab.data import load_coco_records, load_split, make_synthetic_dataset

CATEGORY_IDS = [3, 10, 42]  # deliberately sparse, as COCO's 1..90


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: the user cache in tmp_path


@pytest.fixture
def coco(tmp_path):
    """A COCO file made from the synthetic val split, plus some broken entries."""
    yaml_path = make_synthetic_dataset(tmp_path / "synth", num_train=0, num_val=6, img_size=80, seed=3)
    records, _ = load_split(yaml_path, "val", cache=False, log=False)
    images, anns = [], []
    for iid, rec in enumerate(records, start=100):
        images.append({"id": iid, "file_name": Path(rec.path).name, "width": rec.width, "height": rec.height})
        for cls, cx, cy, w, h in rec.labels.tolist():
            box = [(cx - w / 2) * rec.width, (cy - h / 2) * rec.height, w * rec.width, h * rec.height]
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": CATEGORY_IDS[int(cls)],
                         "bbox": box, "iscrowd": 0, "area": box[2] * box[3]})
    first = images[0]["id"]
    anns += [
        {"id": 900, "image_id": first, "category_id": 10, "bbox": [1, 1, 20, 20], "iscrowd": 1},
        {"id": 901, "image_id": 12345, "category_id": 10, "bbox": [1, 1, 20, 20], "iscrowd": 0},
        {"id": 902, "image_id": first, "category_id": 77, "bbox": [1, 1, 20, 20], "iscrowd": 0},
        {"id": 903, "image_id": first, "category_id": 3, "bbox": [5, 5, 0, 10], "iscrowd": 0},
        {"id": 904, "image_id": first, "category_id": 42, "bbox": [70, 10, 20, 10], "iscrowd": 0},  # past the edge
    ]
    images.append({"id": 7, "file_name": "not_there.jpg", "width": 80, "height": 80})
    cats = [{"id": c, "name": n} for c, n in zip(reversed(CATEGORY_IDS), ["triangle", "square", "circle"])]
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path, Path(records[0].path).parent, records


def test_coco_records(coco, caplog):
    path, image_dir, yolo_records = coco
    with caplog.at_level(logging.INFO, logger="yololab"):
        out = load_coco_records(path, image_dir)
    assert out.names == ["circle", "square", "triangle"]  # sorted by category id
    assert out.category_ids == CATEGORY_IDS
    assert [out.to_category_id(i) for i in range(3)] == CATEGORY_IDS
    assert out.category_index == {3: 0, 10: 1, 42: 2}
    rep = out.report
    assert rep.crowd_box == 1  # informational: kept for the evaluator, not trained on
    assert rep.issues() == {"unknown_reference": 2, "degenerate_box": 1, "clipped": 1,
                            "missing_image": 1}
    assert rep.images_listed == 7 and rep.images == 6
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

    by_path = {r.path: r for r in out.records}
    for rec in yolo_records:
        got = by_path[rec.path]
        assert got.image_id is not None and (got.width, got.height) == (rec.width, rec.height)
        extra = 1 if got.image_id == 100 else 0  # the clipped box added to the first image
        assert len(got.labels) == len(rec.labels) + extra
        np.testing.assert_allclose(got.labels[: len(rec.labels)], rec.labels, atol=1e-6)
    clipped = by_path[yolo_records[0].path].labels[-1]
    np.testing.assert_allclose(clipped, [2, 75 / 80, 15 / 80, 10 / 80, 10 / 80], atol=1e-6)


def test_coco_bad_file(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="x.json"):
        load_coco_records(tmp_path / "x.json", tmp_path)
    (tmp_path / "y.json").write_text("{oops")
    with pytest.raises(ValueError, match="y.json"):
        load_coco_records(tmp_path / "y.json", tmp_path)
