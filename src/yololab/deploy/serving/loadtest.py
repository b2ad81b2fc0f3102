"""Bounded load test of a running ``yololab serve``: N concurrent clients for T seconds, then
every kind of malformed upload, each of which must get a 4xx while the server stays up.

Used by ``benchmarks/load_test.py`` (which starts a real server on loopback) and by the tests.
The clients are httpx coroutines on one event loop: each posts an image, waits for the answer,
and posts the next one until the time is up (a closed loop, so the load is bounded by N).
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from yololab.atomic import open_nofollow


@dataclass
class LoadResult:
    """What N clients saw in T seconds; latencies are client-side, in milliseconds."""

    clients: int
    seconds: float
    requests: int
    status_counts: dict[int, int]
    transport_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests_per_second: float
    mean_batch_size: float
    errors: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.status_counts.items() if code >= 500)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "server_errors": self.server_errors}


async def _client_loop(client: httpx.AsyncClient, images: list[tuple[str, bytes]], offset: int,
                       stop_at: float, latencies: list[float], codes: Counter, batches: list[int],
                       errors: list[str]) -> None:
    i = offset
    while time.monotonic() < stop_at:
        name, data = images[i % len(images)]
        i += 1
        start = time.perf_counter()
        try:
            r = await client.post("/predict", files={"file": (name, data, "image/jpeg")})
        except httpx.TransportError as err:
            codes["transport error"] += 1
            if len(errors) < 10:
                errors.append(f"{type(err).__name__}: {err}")
            continue
        latencies.append(1000 * (time.perf_counter() - start))
        codes[r.status_code] += 1
        if r.status_code == 200:
            batches.append(int(r.json().get("batch_size", 1)))
        elif len(errors) < 10:
            errors.append(f"{r.status_code}: {r.text[:200]}")


async def _run_load(base_url: str, images: list[tuple[str, bytes]], clients: int, seconds: float,
                    timeout: float) -> LoadResult:
    latencies: list[float] = []
    codes: Counter = Counter()
    batches: list[int] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:
        start = time.monotonic()
        stop_at = start + seconds
        await asyncio.gather(*(_client_loop(client, images, k, stop_at, latencies, codes, batches, errors)
                               for k in range(clients)))
        elapsed = time.monotonic() - start
    if not latencies:
        raise RuntimeError(f"no request to {base_url}/predict completed: {errors[:3]}")
    transport = codes.pop("transport error", 0)
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    return LoadResult(clients=clients, seconds=round(elapsed, 2), requests=len(latencies),
                      status_counts=dict(sorted(codes.items())), transport_errors=transport,
                      p50_ms=round(float(p50), 1), p90_ms=round(float(p90), 1), p99_ms=round(float(p99), 1),
                      max_ms=round(max(latencies), 1),
                      requests_per_second=round(len(latencies) / elapsed, 2),
                      mean_batch_size=round(statistics.fmean(batches), 2) if batches else 0.0,
                      errors=errors[:10])


def run_load(base_url: str, images: list[tuple[str, bytes]], clients: int = 8, seconds: float = 10.0,
             timeout: float = 120.0) -> LoadResult:
    """``clients`` concurrent closed-loop clients posting ``images`` (name, bytes) for ``seconds``."""
    if clients < 1 or seconds <= 0 or not images:
        raise ValueError(f"need clients >= 1, seconds > 0 and images; got {clients}, {seconds}, {len(images)}")
    return asyncio.run(_run_load(base_url, images, clients, seconds, timeout))


def _huge_png(side: int = 9000) -> bytes:
    """A few kB of PNG that would decode to side x side pixels (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")
    return buf.getvalue()


def zero_png(side: int = 7700) -> bytes:
    """An all-zero RGB PNG of side x side pixels, compressed row by row (never held decoded): about
    170 kB for 7700 x 7700, 180 MB as pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row, parts = zlib.compressobj(9), b"\0" * (1 + 3 * side), []
    for _ in range(side):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


@dataclass
class BurstResult:
    """N simultaneous uploads of one image: the answers and the server's resident memory (MiB)."""

    clients: int
    status_counts: dict[int, int]
    retry_after: bool  # every 503 carried Retry-After
    rss_before_mb: float
    peak_rss_mb: float  # the server's VmHWM (peak resident set) after the burst
    rss_after_mb: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def process_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak resident) of a Linux process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def run_burst(base_url: str, pid: int, name: str, data: bytes, clients: int = 10,
              timeout: float = 300.0) -> BurstResult:
    """``clients`` uploads of ``data`` at the same moment; the server process's memory around it."""
    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:
            return await asyncio.gather(*(client.post("/predict", files={"file": (name, data, "image/png")})
                                          for _ in range(clients)))

    try:  # reset the peak (VmHWM) to the current RSS, so that it is the burst's peak
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass
    before = process_memory_mb(pid)["VmRSS"]
    start = time.perf_counter()
    responses = asyncio.run(burst())
    seconds = time.perf_counter() - start
    after = process_memory_mb(pid)
    codes = Counter(r.status_code for r in responses)
    retry = all("retry-after" in r.headers for r in responses if r.status_code == 503)
    return BurstResult(clients, dict(sorted(codes.items())), retry, round(before, 1), round(after["VmHWM"], 1),
                       round(after["VmRSS"], 1), round(seconds, 2))


def health(base_url: str) -> dict[str, Any]:
    """The server's /health answer."""
    return httpx.get(base_url + "/health", timeout=30).json()


def malformed_uploads(jpeg: bytes, max_upload_bytes: int) -> dict[str, tuple[bytes, int]]:
    """Each bad upload a server must survive, with the 4xx it should get (name -> (bytes, status))."""
    return {
        "empty": (b"", 400),
        "not an image (text)": (b"just some text, not an image\n" * 40, 415),
        "corrupt JPEG": (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 8, 422),
        "truncated JPEG": (jpeg[: len(jpeg) // 2], 422),
        "huge pixel count (9000x9000 PNG bomb)": (_huge_png(), 422),
        "over the size limit": (jpeg + b"\0" * (max_upload_bytes + 1), 413),
    }


def probe_malformed(base_url: str, jpeg: bytes, max_upload_bytes: int,
                    timeout: float = 60.0) -> list[dict[str, Any]]:
    """Post every malformed upload; per case the status, the expected one, the message, and
    whether /health still answered 200 afterwards."""
    rows = []
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for name, (data, expected) in malformed_uploads(jpeg, max_upload_bytes).items():
            r = client.post("/predict", files={"file": ("upload.jpg", data, "image/jpeg")})
            try:
                detail = r.json().get("detail", "")
            except ValueError:
                detail = r.text[:200]
            rows.append({"case": name, "status": r.status_code, "expected": expected, "detail": str(detail)[:160],
                         "healthy_after": client.get("/health").status_code == 200})
        r = client.post("/predict", data={"image": "no file field"})
        rows.append({"case": "missing 'file' field", "status": r.status_code, "expected": 422,
                     "detail": "FastAPI validation error", "healthy_after": client.get("/health").status_code == 200})
    return rows


def format_load(result: LoadResult) -> str:
    codes = ", ".join(f"{c}: {n}" for c, n in result.status_counts.items())
    return (f"{result.clients} clients x {result.seconds:.1f} s: {result.requests} requests ({codes}), "
            f"{result.server_errors} 5xx, {result.transport_errors} transport errors; latency p50 "
            f"{result.p50_ms:.0f} ms, p90 {result.p90_ms:.0f} ms, p99 {result.p99_ms:.0f} ms, max "
            f"{result.max_ms:.0f} ms; {result.requests_per_second:.2f} req/s, mean batch {result.mean_batch_size:.2f}")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_subprocess(serve_args: Sequence[str], log: str | Path, port: int | None = None,
                     startup_s: float = 120.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """``yololab serve <serve_args>`` on a free loopback port, as a real process; yields
    (base URL, process) once /health answers, and stops it with SIGINT (graceful) on exit."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "yololab", "serve", *serve_args, "--host", "127.0.0.1", "--port", str(port)]
    fd = open_nofollow(log, os.O_WRONLY | os.O_TRUNC)  # a log stream: not atomic, never through a link
    with os.fdopen(fd, "w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=dict(os.environ))
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"yololab serve exited with {proc.returncode}:\n{Path(log).read_text()[-3000:]}")
            try:
                if httpx.get(base_url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"yololab serve did not answer /health in {startup_s:.0f} s:\n"
                                   f"{Path(log).read_text()[-3000:]}")
            time.sleep(0.2)
        yield base_url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
