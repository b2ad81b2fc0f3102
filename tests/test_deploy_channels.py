"""Exports, runtimes and samples of a model that reads other than 3 channels."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from yololab.deploy.exporting.samples import sample_batch, sample_image, synthetic_image
from yololab.deploy.runtime.backends import Backend
from yololab.deploy.runtime.graph import DecodedDetector
from yololab.errors import DataError
from yololab.models.build import build_model
from yololab.models.checkpoints import save_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def four_band(tmp_path_factory):
    """A 4-channel yolov5n (random weights, BN statistics made non-trivial by a few training passes)."""
    torch.manual_seed(0)
    model = build_model("yolov5n", num_classes=3, in_channels=4)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 4, 64, 64))
    path = tmp_path_factory.mktemp("four") / "four.pt"
    save_model(model.eval(), path)
    return model.eval(), path


@pytest.mark.parametrize("dynamic", [False, True])
def test_four_channel_model_exports_to_onnx_and_matches_torch(four_band, tmp_path, dynamic) -> None:
    pytest.importorskip("onnxruntime")
    from yololab.deploy.exporting.export import export_model

    model, weights = four_band
    out = export_model(weights, "onnx", imgsz=64, dynamic=dynamic, out=tmp_path / "four.onnx")
    backend = Backend(out)
    import onnxruntime as ort

    shape = ort.InferenceSession(str(out)).get_inputs()[0].shape
    assert shape == [1, 4, 64, 64] if not dynamic else shape[1] == 4
    assert backend.in_channels == 4 and backend.meta["in_channels"] == 4
    x = np.random.default_rng(0).random((1, 4, 64, 64), dtype=np.float32)
    fused = DecodedDetector(copy.deepcopy(model).fuse()).eval()
    with torch.inference_mode():
        ref = fused(torch.from_numpy(x)).numpy()
    assert np.abs(backend.infer(x) - ref).max() < 1e-3
    with pytest.raises(ValueError, match=r"\(batch, 4, height, width\)"):
        backend.infer(np.zeros((1, 3, 64, 64), np.float32))


@pytest.mark.parametrize("fmt", ["torchscript", "openvino"])
def test_torch_torchscript_and_openvino_backends_read_the_channel_count(four_band, tmp_path, fmt) -> None:
    if fmt == "openvino":
        pytest.importorskip("openvino")
    from yololab.deploy.exporting.export import FORMATS, export_model

    _, weights = four_band
    assert Backend(weights).in_channels == 4
    exported = export_model(weights, fmt, imgsz=64, dynamic=False, out=tmp_path / f"four{FORMATS[fmt]}")
    backend = Backend(exported)  # export_model checked its outputs against PyTorch (<= 1e-3) already
    assert backend.in_channels == 4
    assert backend.infer(sample_batch((64, 64), 1, 32, None, 4)).shape[0] == 1


def test_bench_runs_a_four_channel_model(four_band) -> None:
    from yololab.deploy.bench import run_bench

    _, weights = four_band
    result = run_bench(weights, "torch", imgsz=64, runs=2, warmup=1, device="cpu")
    assert result.inference_ms > 0


def test_samples_have_the_models_channels(coco128_image) -> None:
    assert synthetic_image(64, 96).shape == (64, 96, 3)
    gray = synthetic_image(64, 96, channels=1)
    assert gray.shape == (64, 96, 1) and gray.dtype == np.uint8
    assert synthetic_image(64, 96, channels=5).shape == (64, 96, 5)
    assert sample_image(coco128_image, 4).shape[2] == 4
    assert sample_batch((64, 64), 2, 32, coco128_image, 1).shape == (2, 1, 64, 64)


def test_sample_of_another_channel_count_is_refused(tmp_path, monkeypatch) -> None:
    from yololab.deploy.exporting import samples

    path = tmp_path / "two_bands.tif"
    path.write_bytes(b"any")
    monkeypatch.setattr(samples, "load_image", lambda _: np.zeros((40, 40, 2), np.uint8))
    with pytest.raises(DataError, match="two_bands.tif has 2 channels, the model reads 4"):
        sample_image(path, 4)
    monkeypatch.setattr(samples, "load_image", lambda _: np.full((40, 40), 7, np.uint8))  # a gray file
    assert sample_image(path, 3).shape == (40, 40, 3) and sample_image(path, 1).shape == (40, 40, 1)


def test_export_and_val_adapt_an_rgb_checkpoint_to_the_datas_channels(tmp_path) -> None:
    from yololab.deploy.exporting.export import export_model
    from yololab.deploy.runtime.model_adapter import load_val_model

    rgb = tmp_path / "rgb.pt"
    save_model(build_model("yolov5n", num_classes=2).eval(), rgb)
    assert load_val_model(rgb, in_channels=1).spec.in_channels == 1
    out = export_model(rgb, "torchscript", imgsz=64, in_channels=1, out=tmp_path / "gray.torchscript")
    assert Backend(out).in_channels == 1
