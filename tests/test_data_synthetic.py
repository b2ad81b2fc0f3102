"""Synthetic shapes dataset: deterministic, quick, clean YOLO format, boxes around the drawn shapes."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from yololab.data import load_data_config, load_split, make_synthetic_dataset


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: the user cache in tmp_path


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", num_train=6, num_val=3, img_size=64, seed=7).parent
    b = make_synthetic_dataset(tmp_path / "b", num_train=6, num_val=3, img_size=64, seed=7).parent
    c = make_synthetic_dataset(tmp_path / "c", num_train=6, num_val=3, img_size=64, seed=8).parent
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert len(fa) == 1 + 2 * 9 and fa == fb
    assert {k for k in fa if fa[k] != fc.get(k)} - {"data.yaml"}  # another seed, other images


def test_demo_size_is_quick_and_clean(tmp_path):
    t = time.perf_counter()
    yaml_path = make_synthetic_dataset(tmp_path, num_train=160, num_val=40, img_size=256)
    assert time.perf_counter() - t < 10  # about 2 s on 2 CPU cores
    cfg = load_data_config(yaml_path)
    assert cfg.names == ["circle", "square", "triangle"] and cfg.root == tmp_path.resolve()
    train, rep = load_split(cfg, "train", log=False)
    val, rep_val = load_split(cfg, "val", log=False)
    assert len(train) == 160 and len(val) == 40
    assert rep.issues() == {} and rep_val.issues() == {}
    per_image = [len(r.labels) for r in train]
    assert np.mean(per_image) > 2 and max(per_image) <= 6 and rep.backgrounds < 20
    classes = np.concatenate([r.labels[:, 0] for r in train])
    assert set(classes.tolist()) == {0, 1, 2}
    assert all((r.width, r.height) == (256, 256) for r in train)


def test_boxes_enclose_the_shapes(tmp_path):
    yaml_path = make_synthetic_dataset(tmp_path, num_train=8, num_val=0, img_size=128, seed=1,
                                       classes=("square", "star"))
    records, _ = load_split(yaml_path, "train", log=False)
    checked = 0
    for rec in records:
        img = cv2.imread(rec.path)
        for _, cx, cy, w, h in rec.labels:
            x1, y1, x2, y2 = (int(round(v * 128)) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            inner = img[y1 + 3:y2 - 3, x1 + 3:x2 - 3].reshape(-1, 3).astype(float)
            ring = np.concatenate([img[max(y1 - 4, 0):y1, x1:x2].reshape(-1, 3), img[y2:y2 + 4, x1:x2].reshape(-1, 3)])
            if len(inner) > 20 and len(ring) > 20:
                # the object's own colour dominates inside its box and is rare just outside it
                colour = np.median(img[int(cy * 128) - 1:int(cy * 128) + 2, int(cx * 128) - 1:int(cx * 128) + 2]
                                   .reshape(-1, 3), 0)
                near = lambda px: (np.abs(px.astype(float) - colour).max(1) < 30).mean()  # noqa: E731
                assert near(inner) > near(ring)
                checked += 1
    assert checked > 5


def test_unknown_shape_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="blob"):
        make_synthetic_dataset(tmp_path, num_train=1, num_val=1, classes=("circle", "blob"))
