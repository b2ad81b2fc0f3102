"""Bounded loopback load test of ``yololab serve`` (real uvicorn process, real coco128 photos).

    python benchmarks/load_test.py [--weights ../shared/weights/yolov5n.pt] [--clients 16] [--seconds 30]
                                   [--imgsz 640] [--threads 2] [--max-batch 8] [--json F]

Starts the server on a free 127.0.0.1 port, runs N closed-loop clients for T seconds posting the
coco128 val2017 images, then posts every malformed upload (empty, text, corrupt, truncated, a
decompression bomb, over the size limit, no file field) and checks each gets its 4xx and that /health
still answers; finally stops the server with SIGINT and checks it exits 0. Prints p50/p90/p99 latency,
requests/s, the status counts and the mean batch size; exits 1 on any 5xx, transport error, wrong
status or unclean shutdown. Last, ten clients post a 7700 x 7700 all-zero PNG at the same moment
(``--bomb-clients``): the server's peak resident memory (VmHWM) is printed against ``--memory-mb``
and the run fails if it grows by more than that budget plus 160 MiB, or if a burst answer is other
than 200 or 503 with Retry-After. Then ``--junk-clients`` (60) post ``--junk-mb`` (19) MB of junk at the
same moment (just under the upload limit, loopback only, one burst, ``--junk-timeout`` s at most): request
bodies count in the budget, so the same bound holds; /health's budget peak and process peak are printed
beside the server's measured peak.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(SHARED / "weights" / "yolov5n.pt"))
    parser.add_argument("--images", default=str(SHARED / "data" / "coco128" / "images" / "val2017"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-upload-mb", type=float, default=20.0)
    parser.add_argument("--memory-mb", type=float, default=1024.0, help="yololab serve --memory-mb")
    parser.add_argument("--bomb-clients", type=int, default=10)
    parser.add_argument("--junk-clients", type=int, default=60, help="concurrent junk uploads (0: skip)")
    parser.add_argument("--junk-mb", type=float, default=19.0, help="size of each junk upload (MB)")
    parser.add_argument("--junk-timeout", type=float, default=300.0, help="seconds the junk burst may take")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    from yololab.deploy.serving.loadtest import (format_load, health, probe_malformed, run_burst, run_load,
                                         serve_subprocess, zero_png)

    photos = sorted(Path(args.images).glob("*.jpg"))
    if not Path(args.weights).is_file() or not photos:
        raise SystemExit(f"need {args.weights} and JPEGs in {args.images} (../shared beside the checkout)")
    images = [(p.name, p.read_bytes()) for p in photos]
    serve_args = ["--weights", args.weights, "--imgsz", str(args.imgsz), "--max-batch", str(args.max_batch),
                  "--max-wait-ms", str(args.max_wait_ms), "--max-upload-mb", str(args.max_upload_mb),
                  "--memory-mb", str(args.memory_mb)]
    if args.threads:
        serve_args += ["--threads", str(args.threads)]
    limit = int(args.max_upload_mb * 2**20)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with serve_subprocess(serve_args, log) as (url, proc):
            print(f"server {url}: {' '.join(serve_args)}")
            run_load(url, images[:4], clients=2, seconds=3)  # warm-up
            result = run_load(url, images, clients=args.clients, seconds=args.seconds)
            print(format_load(result))
            rows = probe_malformed(url, images[0][1], limit)
            burst = run_burst(url, proc.pid, "bomb.png", zero_png(7700), clients=args.bomb_clients)
            junk = junk_health = None
            if args.junk_clients:
                junk_bytes = (b"\x00junk, not an image " * (int(args.junk_mb * 2**20) // 21 + 1))[:int(args.junk_mb * 2**20)]
                junk = run_burst(url, proc.pid, "junk.bin", junk_bytes, clients=args.junk_clients,
                                 timeout=args.junk_timeout)
                junk_health = health(url)
        shutdown_ok = proc.returncode == 0 and "Application shutdown complete" in log.read_text()
    wrong = [r for r in rows if r["status"] != r["expected"] or not r["healthy_after"]]
    for r in rows:
        mark = "ok " if r not in wrong else "BAD"
        print(f"  {mark} {r['case']:<40} -> {r['status']} (expected {r['expected']}), healthy after: "
              f"{r['healthy_after']}; {r['detail']}")
    grown = burst.peak_rss_mb - burst.rss_before_mb
    burst_ok = set(burst.status_counts) <= {200, 503} and burst.retry_after and grown < args.memory_mb + 160
    print(f"{burst.clients} x 7700x7700 PNG at once: {burst.status_counts} in {burst.seconds:.1f} s; server RSS "
          f"{burst.rss_before_mb:.0f} MiB -> peak {burst.peak_rss_mb:.0f} MiB (+{grown:.0f}, budget "
          f"{args.memory_mb:.0f}) -> {burst.rss_after_mb:.0f} MiB after: {'ok' if burst_ok else 'BAD'}")
    junk_ok = True
    if junk is not None:
        grown = junk.peak_rss_mb - junk.rss_before_mb
        junk_ok = (set(junk.status_counts) <= {413, 415, 503} and junk.retry_after and grown < args.memory_mb + 160
                   and junk_health["memory_in_use_bytes"] == 0)
        print(f"{junk.clients} x {args.junk_mb:g} MB junk uploads at once: {junk.status_counts} in {junk.seconds:.1f} s; "
              f"server RSS {junk.rss_before_mb:.0f} MiB -> peak {junk.peak_rss_mb:.0f} MiB (+{grown:.0f}, budget "
              f"{args.memory_mb:.0f}); /health: budget peak {junk_health['memory_peak_bytes'] / 2**20:.0f} MiB, "
              f"process peak RSS {junk_health['process_peak_rss_bytes'] / 2**20:.0f} MiB: {'ok' if junk_ok else 'BAD'}")
    print(f"graceful shutdown (SIGINT, exit 0): {shutdown_ok}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load": result.to_dict(), "malformed": rows, "burst": burst.to_dict(),
                                               "junk": junk.to_dict() if junk else None, "junk_health": junk_health,
                                               "graceful_shutdown": shutdown_ok}, indent=2))
    failed = (result.server_errors or result.transport_errors or wrong or not shutdown_ok or not burst_ok
              or not junk_ok)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
