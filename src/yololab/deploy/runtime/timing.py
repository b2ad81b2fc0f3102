"""The one latency timer of yololab: ``yololab bench``, the compare cells' latency, the INT8 report
and ``benchmarks/`` all time through these functions, so one model on one backend gets one figure.

A measurement is untimed warm-up calls, then ``runs`` timed calls (``time.perf_counter``, ms),
summarised as median (the headline figure: robust to the odd slow run of a shared machine), p90,
mean, standard deviation and minimum. A model is timed as ``Backend.infer`` on a preprocessed batch
(fused model with box decoding; no preprocessing, no NMS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np


if TYPE_CHECKING:
    from yololab.deploy.runtime.backends import Backend


def time_calls(fn: Callable[[], Any], runs: int, warmup: int,
               sync: Callable[[], None] | None = None) -> np.ndarray:
    """Wall-clock ms of ``runs`` calls of ``fn`` after ``warmup`` untimed ones; ``sync`` (e.g.
    ``torch.cuda.synchronize``) runs after each call, inside the timed span."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    out = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        out[i] = (time.perf_counter() - t) * 1000
    return out


def percentile(ms: np.ndarray | list[float], q: float) -> float:
    """The ``q``-th percentile (0-100, linear interpolation between runs) of timings."""
    return float(np.percentile(np.asarray(ms, dtype=float), q))


def summarize(ms: np.ndarray | list[float]) -> dict[str, float | int]:
    """median, p90, mean, std (population) and min in ms, and the number of runs."""
    a = np.asarray(ms, dtype=float)
    if a.size == 0:
        raise ValueError("no timings to summarise")
    return {"median_ms": float(np.median(a)), "p90_ms": percentile(a, 90), "mean_ms": float(a.mean()),
            "std_ms": float(a.std()), "min_ms": float(a.min()), "runs": int(a.size)}


def time_stages(stages: Mapping[str, Callable[[Any], Any]], first: Any, runs: int,
                warmup: int) -> dict[str, np.ndarray]:
    """Wall-clock ms per stage of a pipeline, every stage timed within the same ``runs`` passes: each
    stage gets the previous one's output (the first gets ``first``). Besides one array per stage label,
    ``'total'`` is each pass's sum, so the median of the total is never below a stage's median."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    out = {label: np.empty(runs) for label in stages}
    for i in range(-warmup, runs):
        value = first
        for label, fn in stages.items():
            t = time.perf_counter()
            value = fn(value)
            if i >= 0:
                out[label][i] = (time.perf_counter() - t) * 1000
    out["total"] = np.sum([out[label] for label in stages], axis=0)
    return out


def time_backend(backend: Backend, images: np.ndarray, runs: int, warmup: int,
                 pre: Callable[[], np.ndarray] | None = None,
                 post: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Model latency of ``backend.infer(images)``: ``summarize``'s figures plus the backend kind,
    its threads and the device it ran on (the CPU's or the GPU's name).

    With ``pre`` (returns the batch to infer) and/or ``post`` (takes the raw output), each run is a
    whole pipeline pass and ``'stages'`` holds ``summarize``'s figures of ``'preprocess'``,
    ``'postprocess'`` and ``'total'`` from the same runs as the model's (see ``time_stages``)."""
    stages: dict[str, Callable[[Any], Any]] = {}
    if pre is not None:
        stages["preprocess"] = lambda _: pre()
    stages["model"] = backend.infer
    if post is not None:
        stages["postprocess"] = post
    ms = time_stages(stages, images, runs, warmup)
    result = summarize(ms["model"])
    if len(stages) > 1:
        result["stages"] = {k: summarize(v) for k, v in ms.items() if k != "model"}
    return {**result, "warmup": warmup, "backend": backend.kind, "threads": backend.threads,
            "batch": int(images.shape[0]), "device": backend.device_name()}


def time_interleaved(calls: Mapping[str, Callable[[], Any]], runs: int, warmup: int, block: int = 5,
                     pause: float = 0.0) -> dict[str, dict[str, Any]]:
    """Several calls timed in turns: rounds of ``block`` timed runs each (>= ``runs`` in all), so that
    the drifting load of a shared machine hits them alike.

    Each block starts after ``pause`` seconds and one untimed call, so that the previous call's thread
    pool has stopped spinning (ONNX Runtime's idle workers spin-wait and slow whichever session runs
    right after them). Per label: ``summarize``'s figures and ``cpu_median_ms``, the median CPU time
    of this process per call (steadier than wall time when other jobs compete for the cores; above it
    when several threads work)."""
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    wall: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(-(-runs // block)):
        for label, fn in calls.items():
            if pause:
                time.sleep(pause)
            fn()
            for _ in range(block):
                c, t = time.process_time(), time.perf_counter()
                fn()
                wall[label].append((time.perf_counter() - t) * 1000)
                cpu[label].append((time.process_time() - c) * 1000)
    return {k: {**summarize(wall[k]), "cpu_median_ms": float(np.median(cpu[k])), "warmup": warmup}
            for k in calls}
