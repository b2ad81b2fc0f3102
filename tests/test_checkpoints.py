"""Checkpoint safety and formats: upstream import, yololab round trip, refusal of pickled code."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yololab import build_model, load_model
from yololab.models.checkpoints import CheckpointError, save_model
from yololab.models.safe_pickle import UnsafeCheckpointError


class _RunsShell:
    """A pickle payload that would run a shell command when unpickled normally."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _RunsEval:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [_RunsShell, _RunsEval])
def test_checkpoint_that_executes_code_is_refused(tmp_path: Path, payload) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    # Shaped like an upstream checkpoint, with the payload hidden inside.
    torch.save({"model": payload(marker), "epoch": -1}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_model(path)
    assert not marker.exists(), "the pickled command ran"
    # Sanity check that the payload is real: an unrestricted load would run it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_real_upstream_yolov5n_loads_and_detects(yolov5n_pt: Path, coco128: Path) -> None:
    model = load_model(yolov5n_pt)
    assert model.spec.model == "yolov5n"
    assert sum(p.numel() for p in model.parameters()) == 1_872_157
    assert model.names[0] == "person" and len(model.names) == 80
    # yolov5n.yaml anchors, recovered from the checkpoint's grid-unit anchors and strides.
    assert model.head.anchors[2].tolist() == [[116, 90], [156, 198], [373, 326]]
    assert model.head.anchors.dtype == torch.float32
    # A real image: 000000000139 is a living room with a person, a TV and chairs.
    image = cv2.imread(str(coco128 / "images/val2017/000000000139.jpg"))[:, :, ::-1]
    h, w = image.shape[:2]
    scale = 640 / max(h, w)
    resized = cv2.resize(image, (round(w * scale), round(h * scale)))
    canvas = np.full((640, 640, 3), 114, np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    x = torch.from_numpy(canvas).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        pred = model.decode(model(x))[0]
    scores, classes = (pred[:, 4:5] * pred[:, 5:]).max(1)
    confident = {model.names[int(c)] for c in classes[scores > 0.5]}
    assert {"person", "tv", "chair"} <= confident


def test_yololab_checkpoint_round_trip_is_weights_only(tmp_path: Path) -> None:
    model = build_model("yolov7-tiny", backbone="resnet50", num_classes=3, names=["a", "b", "c"]).eval()
    path = tmp_path / "m.pt"
    save_model(model, path)
    plain = torch.load(path, weights_only=True)  # no pickled classes inside
    assert plain["spec"]["backbone"] == "resnet50"
    loaded = load_model(path)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x)):
            assert torch.equal(a, b)
    assert loaded.names == ["a", "b", "c"]


def test_fused_checkpoint_round_trip(tmp_path: Path) -> None:
    model = build_model("yolov7", num_classes=2).eval().fuse()
    save_model(model, tmp_path / "f.pt")
    loaded = load_model(tmp_path / "f.pt")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)[0], loaded(x)[0])


def test_num_classes_mismatch_reinitialises_head(yolov5n_pt: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="yololab"):
        model = load_model(yolov5n_pt, num_classes=3)
    assert "re-initialised" in caplog.text
    assert model.head.num_classes == 3
    original = load_model(yolov5n_pt)
    assert torch.equal(model.backbone.stem.conv.weight, original.backbone.stem.conv.weight)


def test_corrupt_and_truncated_files_give_clear_errors(tmp_path: Path, yolov5n_pt: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_model(junk)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(yolov5n_pt.read_bytes()[:1_000_000])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_model(truncated)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_other_objects_are_not_models(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="neither"):
        load_model(path)


def test_bad_images_are_rejected_clearly() -> None:
    model = build_model("yolov5n").eval()
    with pytest.raises(ValueError, match="not divisible by the model stride 32"):
        model(torch.rand(1, 3, 100, 128))
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        model(torch.rand(1, 1, 128, 128))
