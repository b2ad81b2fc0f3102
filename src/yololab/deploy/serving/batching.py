"""Micro-batching for the server: concurrent requests share one batched inference.

Requests wait in an asyncio queue; a single consumer takes up to ``max_batch`` of them, waiting at
most ``max_wait_ms`` after the first for more, then runs the batch in a dedicated worker thread
(one thread: backends such as an OpenVINO infer request are not re-entrant).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from yololab.deploy.runtime.images import LetterboxInfo
from yololab.deploy.runtime.pipeline import Predictor, Thresholds

LOG = logging.getLogger("yololab")


class BatcherClosed(RuntimeError):
    """The server is starting or shutting down; no new work is taken."""


@dataclass
class _Job:
    image: np.ndarray  # (3, H, W) preprocessed
    info: LetterboxInfo
    future: asyncio.Future
    thresholds: Thresholds | None = None


@dataclass
class BatchResult:
    detections: np.ndarray  # (n, 6) original pixels
    batch_size: int
    inference_ms: float  # model + NMS for the whole batch


class MicroBatcher:
    """``await submit(image, info)`` -> :class:`BatchResult`; ``start``/``stop`` from the app lifespan."""

    def __init__(self, predictor: Predictor, max_batch: int = 8, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self.predictor, self.max_batch, self.max_wait = predictor, max_batch, max_wait_ms / 1000
        self.queue: asyncio.Queue[_Job | None] | None = None
        self.task: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yololab-infer")
        self.closing = False
        self.stats = {"requests": 0, "batches": 0, "largest_batch": 0, "errors": 0}

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._loop(), name="yololab-batcher")

    async def stop(self) -> None:
        """Finish what is queued, then stop the consumer and the worker thread."""
        self.closing = True
        if self.queue is not None and self.task is not None:
            await self.queue.put(None)
            await self.task
        self.executor.shutdown(wait=True)

    async def submit(self, image: np.ndarray, info: LetterboxInfo, thresholds: Thresholds | None = None) -> BatchResult:
        if self.closing or self.queue is None or self.task is None or self.task.done():
            raise BatcherClosed("not accepting requests (server starting or shutting down)")
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(image, info, future, thresholds))
        return await future

    async def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """The first job plus whatever arrives within the wait window; True if told to stop."""
        jobs, loop = [first], asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(jobs) < self.max_batch:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if job is None:
                return jobs, True
            jobs.append(job)
        return jobs, False

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self.queue.get()
            if first is None:
                break
            jobs, stopping = await self._collect(first)
            jobs = [j for j in jobs if not j.future.done()]  # clients that went away
            if not jobs:
                continue
            try:
                dets, ms = await loop.run_in_executor(self.executor, self._infer, jobs)
            except Exception as err:  # answer every waiting request, keep serving
                LOG.exception("batch of %d failed", len(jobs))
                self.stats["errors"] += 1
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            self._record(len(jobs))
            for job, d in zip(jobs, dets):
                if not job.future.done():
                    job.future.set_result(BatchResult(d, len(jobs), ms))
        # anything still queued after the stop marker gets an error, not a hang
        while not self.queue.empty():
            job = self.queue.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(BatcherClosed("server shutting down"))

    def _infer(self, jobs: list[_Job]) -> tuple[list[np.ndarray], float]:
        t = time.perf_counter()
        dets = self.predictor.run_batch(np.stack([j.image for j in jobs]), [j.info for j in jobs],
                                        [j.thresholds for j in jobs])
        return dets, (time.perf_counter() - t) * 1000

    def _record(self, n: int) -> None:
        self.stats["requests"] += n
        self.stats["batches"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], n)

    def snapshot(self) -> dict[str, Any]:
        return {**self.stats, "queued": self.queue.qsize() if self.queue else 0,
                "max_batch": self.max_batch, "max_wait_ms": self.max_wait * 1000}
