"""Training on a COCO JSON: crowd regions are not trained on, a COCO val JSON is scored against its own
annotations, and without val data best.pt is not picked on the training images unless asked."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from fixtures import train_cfg

from yololab.data import load_split, make_synthetic_dataset
from yololab.train.data import load_train_data
from yololab.train.trainer import select_best, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def coco_json(tmp_path_factory) -> tuple[Path, Path]:
    """The synthetic train split as a COCO JSON (category ids 5 and 9, ids from 1000, one crowd box)."""
    root = tmp_path_factory.mktemp("syn_coco")
    yaml_path = make_synthetic_dataset(root / "syn", num_train=4, num_val=0, img_size=64,
                                       classes=("square", "circle"), max_objects=2)
    records, _ = load_split(yaml_path, "train", cache=False, log=False)
    images, anns = [], []
    for iid, rec in enumerate(records, start=1000):
        images.append({"id": iid, "file_name": Path(rec.path).name, "width": rec.width, "height": rec.height})
        for cls, cx, cy, w, h in rec.labels.tolist():
            box = [(cx - w / 2) * rec.width, (cy - h / 2) * rec.height, w * rec.width, h * rec.height]
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": (5, 9)[int(cls)], "bbox": box,
                         "area": box[2] * box[3], "iscrowd": 0})
    anns.append({"id": 99, "image_id": 1000, "category_id": 5, "bbox": [0, 0, 30, 30], "area": 500.0, "iscrowd": 1})
    path = root / "train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 9, "name": "circle"}, {"id": 5, "name": "square"}]}))
    return path, Path(records[0].path).parent


_cfg = functools.partial(train_cfg, hyp={"lr0": 0.02}, seed=3)


def test_select_best_decision() -> None:
    assert select_best(val_is_train=False, best_on_train=False)
    assert not select_best(val_is_train=True, best_on_train=False)
    assert select_best(val_is_train=True, best_on_train=True)


def test_train_data_from_coco_json(coco_json) -> None:
    path, image_dir = coco_json
    data = load_train_data(str(path), str(image_dir), log=False)
    assert data.val_is_train and data.val_category_ids == [5, 9] and data.names == ["square", "circle"]
    n_plain = sum(len(r.labels) for r in data.train)
    assert n_plain == sum(1 for a in data.val_gt["annotations"] if not a["iscrowd"])  # crowd not trained on
    assert any(a["iscrowd"] for a in data.val_gt["annotations"])  # but the evaluator has it
    separate = load_train_data(str(path), str(image_dir), val_data=str(path), log=False)
    assert not separate.val_is_train


def test_coco_json_without_val_keeps_last_not_best(coco_json, tmp_path: Path, caplog) -> None:
    path, image_dir = coco_json
    summary = train(_cfg(path, tmp_path / "a", image_dir=str(image_dir)))
    assert (tmp_path / "a" / "weights" / "last.pt").is_file()
    assert not (tmp_path / "a" / "weights" / "best.pt").is_file() and summary.best is None
    assert summary.selects_best is False and summary.final_metrics is not None
    assert "last.pt is the result" in caplog.text

    asked = train(_cfg(path, tmp_path / "b", image_dir=str(image_dir), best_on_train=True))
    assert asked.selects_best and (tmp_path / "b" / "weights" / "best.pt").is_file()
