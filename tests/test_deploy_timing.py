"""One timer for ``yololab bench``, the compare cells and the INT8 report; backends leave PyTorch's
thread count alone; atomic writes never touch the umask; the library reads no environment."""

from __future__ import annotations

import re

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from yololab.deploy.runtime import timing

SRC = Path(__file__).resolve().parents[1] / "src" / "yololab"
IMGSZ = 64


def test_time_calls_counts_warmup_and_runs() -> None:
    calls = []
    ms = timing.time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(calls) == 10 and ms.shape == (7,) and (ms >= 0).all()
    with pytest.raises(ValueError, match="runs"):
        timing.time_calls(lambda: None, runs=0, warmup=1)


def test_summarize_figures() -> None:
    ms = [4.0, 1.0, 3.0, 2.0, 10.0]
    s = timing.summarize(ms)
    assert s["median_ms"] == 3.0 and s["min_ms"] == 1.0 and s["runs"] == 5
    assert s["mean_ms"] == pytest.approx(4.0) and s["std_ms"] == pytest.approx(np.std(ms))
    assert s["p90_ms"] == pytest.approx(timing.percentile(ms, 90)) == pytest.approx(7.6)  # 4 + 0.6 * (10 - 4)
    with pytest.raises(ValueError):
        timing.summarize([])


def test_time_interleaved_takes_turns() -> None:
    order: list[str] = []
    result = timing.time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                     runs=4, warmup=1, block=2)
    assert result["a"]["runs"] == result["b"]["runs"] == 4
    assert "cpu_median_ms" in result["a"]
    # warm-up a, b; then per round: a (untimed + 2), b (untimed + 2); two rounds
    assert order == ["a", "b"] + (["a"] * 3 + ["b"] * 3) * 2


def test_cpu_name_is_one_implementation() -> None:
    from yololab.deploy.bench import device_string
    from yololab.experiments.results.environment import environment
    from yololab.hardware import cpu_name, load_line

    assert "logical cores" in cpu_name()
    assert cpu_name() in device_string(1) and environment()["cpu"] == cpu_name()
    assert "load average" in load_line()


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory) -> Path:
    """A randomly initialised yolov5n checkpoint (latency and plumbing only)."""
    from yololab import build_model
    from yololab.models.checkpoints import save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("timing") / "tiny.pt"
    save_model(build_model("yolov5n"), path)
    return path


def test_bench_and_compare_time_through_the_same_function(tiny_pt, tmp_path, monkeypatch) -> None:
    """``yololab bench --backend onnxruntime`` and a compare cell's ONNX Runtime latency: the same
    export call, the same Backend class and the same timing function."""
    import yololab.deploy.exporting.export as export_module
    from yololab.deploy.bench import run_bench
    from yololab.experiments.score.latency import benchmark_model

    timed: list[tuple[str, type]] = []
    exported: list[dict] = []
    real_time, real_export = timing.time_backend, export_module.export_model

    def spy_time(backend, images, runs, warmup, **stages):
        timed.append((backend.kind, type(backend)))
        return real_time(backend, images, runs, warmup, **stages)

    def spy_export(weights, fmt, **kw):
        exported.append({"weights": str(weights), "fmt": fmt, **{k: v for k, v in kw.items() if k != "out"}})
        return real_export(weights, fmt, **kw)

    monkeypatch.setattr(timing, "time_backend", spy_time)
    monkeypatch.setattr(export_module, "export_model", spy_export)
    bench = run_bench(tiny_pt, "onnxruntime", imgsz=IMGSZ, runs=2, warmup=1, threads=1)
    cell = benchmark_model(tiny_pt, IMGSZ, tmp_path / "weights" / "best.onnx", runs=2, warmup=1,
                           backends=("torch", "onnxruntime"))
    assert timed[0] == timed[2] and timed[0][0] == "onnxruntime"  # bench, then the cell's torch, ORT
    assert timed[1][0] == "torch"
    assert exported[0] == exported[1] and exported[0]["fmt"] == "onnx"
    assert (tmp_path / "weights" / "best.onnx").is_file()
    assert bench.inference_ms > 0 and "error" not in cell["onnxruntime_cpu"]
    assert cell["onnxruntime_cpu"]["backend"] == "onnxruntime" and cell["onnxruntime_cpu"]["median_ms"] > 0
    assert "logical cores" in cell["torch_cpu"]["device"]


def test_time_stages_times_every_stage_in_the_same_runs() -> None:
    seen: list[tuple[str, object]] = []
    ms = timing.time_stages({"a": lambda x: seen.append(("a", x)) or 1, "b": lambda x: seen.append(("b", x))},
                            0, runs=3, warmup=1)
    assert seen == [("a", 0), ("b", 1)] * 4 and ms["a"].shape == ms["b"].shape == (3,)
    assert np.allclose(ms["total"], ms["a"] + ms["b"])


def test_bench_end_to_end_is_never_below_the_model_median(tiny_pt, monkeypatch) -> None:
    """Stage medians come from the same runs (end to end = per-run sum), and the threads printed are
    the ones that ran, under a fake load that makes single runs slow at random."""
    import random
    import time

    from yololab.deploy.bench import format_bench, run_bench
    from yololab.deploy.runtime.backends import TorchBackend

    real_infer, rng = TorchBackend.infer, random.Random(0)

    def noisy(self, x):  # the busy machine: every few runs is ten times slower
        time.sleep(0.02 if rng.random() < 0.4 else 0.0)
        return real_infer(self, x)

    monkeypatch.setattr(TorchBackend, "infer", noisy)
    r = run_bench(tiny_pt, "torch", imgsz=IMGSZ, runs=9, warmup=1, threads=1)
    assert r.end_to_end_ms >= r.inference_ms and r.end_to_end_ms >= r.preprocess_ms
    text = format_bench(r)
    assert "threads=1" in text and "default" not in text
    assert re.search(r"end to end +[\d.]+ ms median", text)


@pytest.mark.parametrize("fmt", ["torch", "torchscript"])
def test_backend_leaves_torch_threads_unchanged(tiny_pt, tmp_path, fmt) -> None:
    """A Backend runs with its own thread count and restores the caller's after each call."""
    from yololab.deploy.exporting.export import export_model
    from yololab.deploy.runtime.backends import Backend

    path = tiny_pt if fmt == "torch" else export_model(tiny_pt, fmt, imgsz=IMGSZ, out=tmp_path / "m.torchscript",
                                                       check=False)
    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    backend = Backend(path, threads=want)
    assert torch.get_num_threads() == before and backend.threads == want
    seen = []
    if fmt == "torch":
        backend.model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    backend.infer(np.zeros((1, 3, IMGSZ, IMGSZ), np.float32))
    assert torch.get_num_threads() == before
    assert seen == ([want] if fmt == "torch" else [])


def test_atomic_write_mode_without_touching_umask(tmp_path, monkeypatch) -> None:
    from yololab.atomic import atomic_write_text

    old = os.umask(0o027)
    try:
        def no_umask(*_):
            raise AssertionError("atomic_write must not call os.umask")

        monkeypatch.setattr(os, "umask", no_umask)
        target = tmp_path / "sub" / "f.json"
        atomic_write_text(target, "{}")
        atomic_write_text(target, "[1]")  # replaces an existing file too
        monkeypatch.undo()
    finally:
        os.umask(old)
    assert target.read_text() == "[1]" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]  # no temporary file left


def test_sample_image_comes_from_the_caller(tmp_path, monkeypatch) -> None:
    from yololab.deploy.exporting.samples import sample_batch, sample_image, synthetic_image

    monkeypatch.setenv("YOLOLAB_SAMPLE_IMAGE", str(tmp_path / "ignored.jpg"))  # no longer read
    assert np.array_equal(sample_image(), synthetic_image())
    assert sample_batch((64, 64), 2).shape == (2, 3, 64, 64)
    with pytest.raises(FileNotFoundError, match="sample image"):
        sample_image(tmp_path / "missing.jpg")


def test_library_reads_no_environment_or_sibling_data() -> None:
    def builds_shared_path(text: str) -> bool:  # '../shared', parent / "shared", "shared" / "data" ...
        return "../shared" in text or re.search(r"""/\s*["']shared["']|["']shared["']\s*/""", text) is not None

    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if "YOLOLAB_" in (t := p.read_text()) or builds_shared_path(t)]
    assert offenders == []
