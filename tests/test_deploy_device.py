"""``--device`` for predict, bench and serve: the choice, its errors, and what each backend runs on.

CUDA is hidden (``torch.cuda.is_available`` patched to False) where a test needs the CPU-only answer,
so these hold on a GPU machine too; the GPU run itself is in tests/test_cuda.py (marked ``cuda``).
"""

from __future__ import annotations

import json
import logging

import onnxruntime as ort
import pytest
import torch

from yololab.cli import main
from yololab.deploy.runtime import backends
from yololab.deploy.runtime.backends import Backend, inference_device
from yololab.errors import UserError

IMGSZ = 320

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """As if 'auto' and '0' had found CUDA device 0: backends that cannot use it must say so."""
    monkeypatch.setattr(backends, "inference_device", lambda device: "cpu" if device == "cpu" else "cuda:0")


@pytest.fixture(scope="module")
def onnx_file(yolov5n_pt, tmp_path_factory):
    from yololab.deploy.exporting.export import export_model

    return export_model(yolov5n_pt, "onnx", imgsz=IMGSZ, check=False,
                        out=tmp_path_factory.mktemp("device") / "y.onnx")


def test_auto_is_the_cpu_without_cuda(no_cuda):
    assert inference_device("auto") == inference_device(None) == inference_device("cpu") == "cpu"


@pytest.mark.parametrize("device", ["0", "cuda:0"])
def test_a_gpu_without_cuda_is_an_error_naming_the_value(no_cuda, device):
    with pytest.raises(UserError, match=f"--device '{device}' asks for CUDA but no CUDA device is available"):
        inference_device(device)


def test_several_gpus_are_refused():
    with pytest.raises(UserError, match=r"--device '0,1': predict, bench and serve run on one device.*--device 0"):
        inference_device("0,1")


def test_bad_device_string_names_it():
    with pytest.raises(UserError, match="--device 'gpu'"):
        inference_device("gpu")


def test_cli_gpu_without_cuda_exits_2(no_cuda, yolov5n_pt, capsys):
    assert main(["bench", "--weights", str(yolov5n_pt), "--imgsz", str(IMGSZ), "--runs", "1",
                 "--warmup", "0", "--device", "0"]) == 2
    assert "yololab bench: error: --device '0' asks for CUDA" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["openvino", "onnxruntime"])
def test_cpu_only_backend_auto_falls_back_saying_so(fake_cuda, onnx_file, kind, caplog):
    if kind == "onnxruntime" and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDAExecutionProvider (onnxruntime-gpu)")
    with caplog.at_level(logging.INFO, logger="yololab"):
        backend = Backend(onnx_file, threads=1, kind=kind, device="auto")
    assert backend.device == "cpu" and backend.info()["device"] == "cpu"
    assert f"device: auto chose cuda:0, but backend {kind}" in caplog.text and "running on the CPU" in caplog.text
    with pytest.raises(UserError, match=f"--device '0': backend {kind} .*; use --device cpu"):
        Backend(onnx_file, threads=1, kind=kind, device="0")


def test_backend_defaults_to_the_cpu(onnx_file, fake_cuda):
    """Library callers (the comparison's CPU latency cells, val of an export) keep the CPU."""
    assert Backend(onnx_file, threads=1).device == "cpu"


def test_bench_json_records_the_device(no_cuda, yolov5n_pt, coco128_image, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--weights", str(yolov5n_pt), "--imgsz", str(IMGSZ), "--runs", "2", "--warmup", "1",
                 "--threads", "1", "--json", str(out), "--sample", str(coco128_image), "--device", "auto"]) == 0
    r = json.loads(out.read_text())
    assert r["runtime_device"] == "cpu" and r["requested_device"] == "auto" and r["device"].startswith("CPU: ")


def test_predict_accepts_and_logs_the_device(yolov5n_pt, coco128_image, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="yololab"):
        assert main(["predict", "--weights", str(yolov5n_pt), "--source", str(coco128_image), "--imgsz",
                     str(IMGSZ), "--out", str(tmp_path / "out"), "--threads", "1", "--no-images",
                     "--device", "cpu"]) == 0
    assert "device: cpu (" in caplog.text and "torch backend)" in caplog.text
    assert json.loads((tmp_path / "out" / "predictions.json").read_text())


def test_help_says_the_default(capsys):
    for command in ("predict", "bench", "serve"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "auto (default: CUDA GPU 0 if available, else CPU)" in " ".join(capsys.readouterr().out.split())
