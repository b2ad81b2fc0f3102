"""``yololab predict`` and ``yololab bench`` on real coco128 images with the real yolov5n."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from yololab.cli import main

IMGSZ = 320


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


@pytest.fixture(scope="module")
def image_files(coco128):
    return sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:3]


@pytest.fixture
def folder(image_files, tmp_path):
    """A folder of three real images (symlinks: nothing is copied), plus one broken file."""
    src = tmp_path / "src"
    src.mkdir()
    for f in image_files:
        (src / f.name).symlink_to(f)
    (src / "000000999999.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return src


def test_predict_folder_writes_json_images_and_labels(yolov5n_pt, folder, image_files, tmp_path):
    out = tmp_path / "out"
    assert main(["predict", "--weights", str(yolov5n_pt), "--source", str(folder), "--imgsz", str(IMGSZ),
                 "--out", str(out), "--save-txt", "--batch", "2", "--threads", "1"]) == 0
    results = json.loads((out / "predictions.json").read_text())
    images = json.loads((out / "images.json").read_text())
    assert sorted(im["file_name"] for im in images) == sorted(f.name for f in image_files)
    assert {r["image_id"] for r in results} <= {im["id"] for im in images}
    assert {im["id"] for im in images} == {int(f.stem) for f in image_files}  # COCO ids from stems
    assert results and all(len(r["bbox"]) == 4 and 0.25 < r["score"] <= 1 for r in results)
    for f in image_files:
        drawn = cv2.imread(str(out / f.name))
        assert drawn is not None and drawn.shape == cv2.imread(str(f)).shape
        assert (out / "labels" / f"{f.stem}.txt").is_file()
    line = (out / "labels" / f"{image_files[0].stem}.txt").read_text().split("\n")[0].split()
    assert len(line) == 5 and 0 <= float(line[1]) <= 1
    assert not (out / "000000999999.jpg").exists()  # skipped with a warning, not a crash


def test_predict_video_and_txt_list(yolov5n_pt, image_files, tmp_path):
    from yololab.deploy.predict import predict

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (320, 240))
    for f in image_files:
        writer.write(cv2.resize(cv2.imread(str(f)), (320, 240)))
    writer.release()
    summary = predict(yolov5n_pt, str(video), imgsz=IMGSZ, out=tmp_path / "v", threads=1, progress=False)
    assert summary.images == 3 and (tmp_path / "v" / "clip.mp4").stat().st_size > 0
    frames = json.loads((tmp_path / "v" / "images.json").read_text())
    assert [f["frame"] for f in frames] == [0, 1, 2]

    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(f) for f in image_files[:2]) + "\n")
    summary = predict(yolov5n_pt, str(listing), imgsz=IMGSZ, out=tmp_path / "t", save_images=False,
                      progress=False)
    assert summary.images == 2 and summary.detections > 0
    summary = predict(yolov5n_pt, str(image_files[0].parent / "00000000013*.jpg"), imgsz=IMGSZ,
                      out=tmp_path / "g", save_images=False, progress=False)
    assert summary.images == 1  # the glob matches 000000000139.jpg only


def test_predict_missing_source_is_a_clear_error(yolov5n_pt, tmp_path):
    assert main(["predict", "--weights", str(yolov5n_pt), "--source", str(tmp_path / "nope")]) == 2


def test_export_cli(yolov5n_pt, coco128_image, tmp_path, capsys):
    out = tmp_path / "y.onnx"
    assert main(["export", "--weights", str(yolov5n_pt), "--imgsz", str(IMGSZ), "--dynamic", "--out", str(out),
                 "--sample", str(coco128_image)]) == 0
    printed = capsys.readouterr().out
    assert "max abs difference" in printed and str(out) in printed and out.is_file()
    assert main(["export", "--weights", str(yolov5n_pt), "--format", "torchscript", "--nms"]) == 2


def test_bench_json(yolov5n_pt, coco128_image, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--weights", str(yolov5n_pt), "--backend", "torch", "--imgsz", str(IMGSZ),
                 "--runs", "3", "--warmup", "1", "--threads", "1", "--json", str(out),
                 "--sample", str(coco128_image)]) == 0
    r = json.loads(out.read_text())
    for key in ("preprocess_ms", "inference_ms", "postprocess_ms", "preprocess_p90_ms", "inference_p90_ms",
                "postprocess_p90_ms", "fps"):
        assert np.isfinite(r[key]) and r[key] > 0, key
    assert r["backend"] == "torch" and r["batch"] == 1
    if not torch.cuda.is_available():  # --device auto: the CPU here (tests/test_deploy_device.py: the choice)
        assert r["device"].startswith("CPU") and r["runtime_device"] == "cpu"
    assert r["requested_device"] == "auto"
    assert r["image"] == str(coco128_image)
