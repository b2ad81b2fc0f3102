"""``yololab serve`` started for real (uvicorn in a subprocess on a free loopback port)."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from conftest import require_module

httpx = require_module("httpx", "to talk to the server")
require_module("fastapi")
require_module("uvicorn")

from yololab.deploy.serving.loadtest import malformed_uploads, run_load, serve_subprocess  # noqa: E402

LIMIT_MB = 1.0


@pytest.fixture(scope="module")
def server(yolov5n_pt, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    args = ["--weights", str(yolov5n_pt), "--imgsz", "320", "--threads", "1", "--max-wait-ms", "50",
            "--max-upload-mb", str(LIMIT_MB), "--device", "auto"]
    with serve_subprocess(args, log) as (url, proc):
        client = httpx.Client(base_url=url, timeout=60)
        yield client, proc, log
        client.close()


@pytest.fixture(scope="module")
def jpeg(coco128) -> bytes:
    return min((coco128 / "images" / "val2017").glob("*.jpg")).read_bytes()


def test_health_info_docs(server):
    client, _, _ = server
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/info").json()
    assert info["model"]["num_classes"] == 80 and info["imgsz"] == [320, 320]
    assert info["max_upload_bytes"] == int(LIMIT_MB * 2**20)
    # --device auto: CUDA device 0 where the server's torch sees one, else the CPU
    assert info["config"]["device"] == "auto"
    assert info["model"]["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_predict_real_image(server, jpeg):
    client, _, _ = server
    r = client.post("/predict", files={"file": ("000000000139.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (640, 426)
    assert body["detections"], "yolov5n finds objects in this living-room photo"
    d = body["detections"][0]
    assert len(d["box"]) == 4 and 0.25 < d["score"] <= 1 and isinstance(d["class_name"], str)
    assert 0 <= d["box"][0] <= d["box"][2] <= 640 and 0 <= d["box"][1] <= d["box"][3] <= 426


@pytest.mark.parametrize("case", list(malformed_uploads(b"", 0)))
def test_malformed_uploads_are_4xx_and_server_stays_up(server, jpeg, case):
    client, proc, _ = server
    data, status = malformed_uploads(jpeg, int(LIMIT_MB * 2**20))[case]
    r = client.post("/predict", files={"file": ("upload.jpg", data, "image/jpeg")})
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert proc.poll() is None
    assert client.get("/health").status_code == 200


def test_bounded_load_has_no_server_errors(server, coco128):
    client, _, _ = server
    photos = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:8]
    result = run_load(str(client.base_url), [(p.name, p.read_bytes()) for p in photos], clients=4, seconds=4)
    assert result.requests >= 4 and result.status_counts.get(200) == result.requests, result.errors
    assert result.server_errors == 0 and result.transport_errors == 0
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    assert result.mean_batch_size > 1  # 4 clients at once get batched together


def test_missing_file_field_is_422(server):
    client, _, _ = server
    assert client.post("/predict", data={"image": "x"}).status_code == 422


def test_concurrent_requests_are_micro_batched(server, jpeg):
    client, _, _ = server

    def one(_):
        with httpx.Client(base_url=client.base_url, timeout=60) as c:
            return c.post("/predict", files={"file": ("a.jpg", jpeg, "image/jpeg")})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(one, range(8)))
    assert all(r.status_code == 200 for r in responses)
    first = responses[0].json()["detections"]
    assert all(r.json()["detections"] == first for r in responses)  # batching changes nothing
    assert client.get("/health").json()["largest_batch"] > 1


def test_graceful_shutdown(server):
    _, proc, log = server
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert "shutting down" in text and "Application shutdown complete" in text
