"""``yololab serve --slice``: a real server (uvicorn subprocess) slicing every upload (issue 25); a large
image posted whole comes back with detections over all of it, the same as ``predict_sliced`` in process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from conftest import require_module

httpx = require_module("httpx", "to talk to the server")
require_module("fastapi")
require_module("uvicorn")

from yololab.deploy.serving.loadtest import serve_subprocess  # noqa: E402


@pytest.fixture(scope="module")
def mosaic(coco128, tmp_path_factory) -> bytes:
    """A 1280 x 960 JPEG: four coco128 photos, each at 640 x 480 (objects half the size a 320 px model sees)."""
    photos = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:4]
    tiles = [cv2.resize(cv2.imread(str(p)), (640, 480)) for p in photos]
    image = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    path = tmp_path_factory.mktemp("mosaic") / "mosaic.jpg"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path.read_bytes()


@pytest.fixture(scope="module")
def server(yolov5n_pt, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve_sliced") / "server.log"
    args = ["--weights", str(yolov5n_pt), "--imgsz", "320", "--threads", "1", "--max-wait-ms", "20",
            "--max-batch", "4", "--device", "cpu", "--slice", "640", "--merge", "nms", "--merge-metric", "iou"]
    with serve_subprocess(args, log) as (url, proc):
        client = httpx.Client(base_url=url, timeout=120)
        yield client, proc
        client.close()


def test_a_large_image_is_predicted_in_slices(server, mosaic, yolov5n_pt, tmp_path):
    from yololab.deploy.runtime.pipeline import Predictor
    from yololab.eval.sliced import predict_sliced
    from yololab.eval.slicing import SliceSettings

    client, proc = server
    info = client.get("/info").json()
    assert info["config"]["slicing"] == {"size": 640, "overlap": 0.2, "merge": "nms", "metric": "iou",
                                         "threshold": 0.5, "full_pass": True, "class_agnostic": False}
    r = client.post("/predict", files={"file": ("mosaic.jpg", mosaic, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"], body["slices"]) == (1280, 960, 7)  # 3 x 2 slices + the whole image
    assert 1 < body["batch_size"] <= 4  # a request's slices share batches
    boxes = np.array([d["box"] for d in body["detections"]])
    assert len(boxes) and boxes[:, 2].max() > 640 and boxes[:, 3].max() > 480  # found in every quarter
    assert boxes.min() >= 0 and boxes[:, 2].max() <= 1280 and boxes[:, 3].max() <= 960
    # the same as sliced prediction in process (the same decoder, model, slices and merge)
    path = tmp_path / "mosaic.jpg"
    path.write_bytes(mosaic)
    from yololab.data.imaging.images import read_image

    local = predict_sliced(read_image(str(path)), Predictor(yolov5n_pt, 320, threads=1, device="cpu"),
                           SliceSettings(640, merge="nms", metric="iou"), batch=4, max_det=300)
    assert len(local) == len(boxes)
    assert np.abs(local[:, :4] - boxes).max() < 0.05
    assert [d["class_id"] for d in body["detections"]] == local[:, 5].astype(int).tolist()
    assert proc.poll() is None


def test_concurrent_sliced_requests_and_no_per_request_switch(server, mosaic):
    client, _ = server
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: client.post("/predict", files={"file": ("m.jpg", mosaic, "image/jpeg")}),
                                range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json()["detections"] == answers[1].json()["detections"]
    # slicing is the server's setting: a request cannot turn it on, off or change it
    r = client.post("/predict", params={"slice": 320}, files={"file": ("m.jpg", mosaic, "image/jpeg")})
    assert r.status_code == 422 and "unknown query parameter(s) slice" in r.json()["detail"]


def test_a_slice_below_the_stride_is_refused_before_serving(yolov5n_pt):
    from yololab.deploy.serving.serve import ServeConfig, create_app
    from yololab.errors import UserError
    from yololab.eval.slicing import SliceSettings

    with pytest.raises(UserError, match=r"--slice 16: a slice must be at least the model's stride of 32 px"):
        create_app(ServeConfig(str(yolov5n_pt), imgsz=320, threads=1, device="cpu", slicing=SliceSettings(16)))
