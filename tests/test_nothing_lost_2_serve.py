"""Issue 30, item 6: ``yololab serve`` counts request bodies in its memory budget (spooled to temporary
files, a non-image refused from its first bytes, 503 early when the budget is spent) and /health reports
the true peak."""

from __future__ import annotations

import asyncio
import json
import tempfile

import pytest
from conftest import require_module

httpx = require_module("httpx", "to talk to the server")
require_module("fastapi")
require_module("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

from yololab.deploy.serving import limits  # noqa: E402
from yololab.deploy.serving.admission import MemoryBudget  # noqa: E402
from yololab.deploy.serving.loadtest import run_burst, serve_subprocess  # noqa: E402
from yololab.deploy.serving.serve import ServeConfig, create_app  # noqa: E402

MB = 2**20
BODY_RAM_BYTES = getattr(limits, "BODY_RAM_BYTES", 2 * MB)  # (so that this module also runs before the fix)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temporary files go to a folder of the test's own, so that leftovers can be seen."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="module")
def client(yolov5n_pt):
    app = create_app(ServeConfig(str(yolov5n_pt), imgsz=320, threads=1, device="cpu", memory_mb=128,
                                 max_pixels=4_000_000))
    with TestClient(app) as c:
        yield c


def test_upload_bytes_count_in_the_budget_and_health_reports_them(client, private_tmp) -> None:
    # main: bodies were buffered outside the budget, /health's peak stayed 0 for every refused upload
    junk = b"\x00junk" * (3 * MB // 5)
    r = client.post("/predict", files={"file": ("junk.bin", junk, "application/octet-stream")})
    assert r.status_code == 415
    health = client.get("/health").json()
    assert BODY_RAM_BYTES <= health["memory_peak_bytes"] < len(junk)  # refused from its first bytes
    fake_png = b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * MB)  # looks like an image: read whole, then refused
    assert client.post("/predict", files={"file": ("x.png", fake_png, "image/png")}).status_code == 422
    health = client.get("/health").json()
    assert health["memory_peak_bytes"] >= len(fake_png) + BODY_RAM_BYTES
    assert health["memory_in_use_bytes"] == 0 and health["process_peak_rss_bytes"] > 100 * MB
    assert not list(private_tmp.iterdir())  # every spooled body removed


def _asgi_post(app, body: bytes, chunk: int = 256 * 1024) -> tuple[int, dict, bytes]:
    """POST ``body`` in chunks through ``app`` (no server): (status, headers, response body)."""
    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0].get("headers", [])), b"".join(m.get("body", b"") for m in sent[1:])


def test_bodies_are_spooled_to_disk_and_refused_early_when_the_budget_is_spent(private_tmp) -> None:
    seen: list[int] = []

    async def app(scope, receive, send):
        total, more = 0, True
        while more:
            message = await receive()
            total += len(message["body"])
            more = message["more_body"]
            seen.append(len(message["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(total).encode()})

    budget = MemoryBudget(4 * BODY_RAM_BYTES)
    limit = limits.BodySizeLimit(app, max_bytes=8 * MB, budget=budget)
    status, _, answer = _asgi_post(limit, b"x" * (5 * MB))
    assert status == 200 and answer == str(5 * MB).encode() and max(seen) <= 64 * 1024  # replayed in chunks
    assert budget.peak == BODY_RAM_BYTES and budget.used == 0
    status, _, answer = _asgi_post(limit, b"x" * (9 * MB))  # chunked past the limit: 413
    assert status == 413 and b"upload too large" in answer
    held = budget.reserve(3 * BODY_RAM_BYTES + 1)
    status, headers, answer = _asgi_post(limit, b"x" * MB)  # no room for one more body: 503 before reading
    assert status == 503 and b"retry-after" in headers and b"retry shortly" in json.dumps(
        json.loads(answer)).encode()
    budget.release(held)
    assert budget.used == 0 and not list(private_tmp.iterdir())


def test_concurrent_junk_uploads_stay_inside_the_budget(yolov5n_pt, tmp_path) -> None:
    # main: 60 x 19 MB junk uploads took the server from 1.16 to 2.53 GB with --memory-mb 600 (here the
    # same at a third of the scale: 20 uploads, 128 MiB with --max-pixels 4e6)
    memory_mb, slack_mb = 128, 160
    args = ["--weights", str(yolov5n_pt), "--imgsz", "320", "--threads", "1", "--device", "cpu",
            "--memory-mb", str(memory_mb), "--max-pixels", "4000000"]
    junk = b"\x00not an image " * (19 * MB // 14)
    with serve_subprocess(args, tmp_path / "server.log") as (url, proc):
        result = run_burst(url, proc.pid, "junk.bin", junk, clients=20)
        health = httpx.get(url + "/health", timeout=10).json()
    print(f"20 x 19 MB junk: {result.to_dict()}; /health peak {health['memory_peak_bytes'] / MB:.0f} MiB")
    assert set(result.status_counts) <= {415, 503} and result.retry_after
    assert result.peak_rss_mb - result.rss_before_mb < memory_mb + slack_mb, result
    assert health["memory_in_use_bytes"] == 0 and health["memory_peak_bytes"] <= memory_mb * MB
