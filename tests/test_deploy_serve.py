"""``yololab serve`` started for real (uvicorn in a subprocess on a free loopback port)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

httpx = pytest.importorskip("httpx", reason="httpx is needed to talk to the server")
pytest.importorskip("fastapi", reason="fastapi is not installed")
pytest.importorskip("uvicorn", reason="uvicorn is not installed")

LIMIT_MB = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(yolov5n_pt, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "yololab", "serve", "--weights", str(yolov5n_pt), "--imgsz", "320",
             "--port", str(port), "--threads", "1", "--max-wait-ms", "50", "--max-upload-mb", str(LIMIT_MB)],
            stdout=handle, stderr=subprocess.STDOUT, env=env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if client.get("/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not come up:\n{log.read_text()}")
        time.sleep(0.2)
    yield client, proc, log
    client.close()
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def jpeg(coco128) -> bytes:
    return min((coco128 / "images" / "val2017").glob("*.jpg")).read_bytes()


def test_health_info_docs(server):
    client, _, _ = server
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/info").json()
    assert info["model"]["num_classes"] == 80 and info["imgsz"] == [320, 320]
    assert info["max_upload_bytes"] == int(LIMIT_MB * 2**20)
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


@pytest.mark.parametrize("name, make, status", [
    ("empty", lambda j: b"", 400),
    ("corrupt", lambda j: b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 8, 422),
    ("truncated", lambda j: j[: len(j) // 2], 422),
    ("text", lambda j: b"just some text, not an image\n" * 40, 415),
    ("oversize", lambda j: j + b"\0" * int(LIMIT_MB * 2**20), 413),
])
def test_malformed_uploads_are_4xx_and_server_stays_up(server, jpeg, name, make, status):
    client, proc, _ = server
    r = client.post("/predict", files={"file": (f"{name}.jpg", make(jpeg), "image/jpeg")})
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert proc.poll() is None
    assert client.get("/health").status_code == 200


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
