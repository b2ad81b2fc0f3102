"""On an NVIDIA GPU: an AMP training step, CUDA NMS = CPU NMS, FP16 latency, GPU validation = CPU validation.

Marked ``cuda``: deselected by default (pyproject's addopts), run with ``pytest -m cuda`` (as
benchmarks/gpu_check.sh does); selected on a machine without CUDA they skip, saying so.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yololab.data import DetectionDataset, collate_fn, load_split
from yololab.deploy.runtime.timing import summarize, time_calls
from yololab.eval.nms import non_max_suppression
from yololab.eval.validate import ValSettings, validate
from yololab.models import build_model
from yololab.models.checkpoints import load_model

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def cuda() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU: torch.cuda.is_available() is False here "
                    "(benchmarks/gpu_check.sh runs these on one)")
    return torch.device("cuda", 0)


@pytest.fixture(scope="module")
def val_batch(coco128):
    """8 real coco128 val images, letterboxed to 640 (uint8 NCHW)."""
    records, _ = load_split(coco128 / "data.yaml", "val", log=False)
    ds = DetectionDataset(records[:8], 640)
    return collate_fn([ds[i] for i in range(8)])[0]


def test_amp_training_step(cuda, coco128, tmp_path) -> None:
    from yololab.train.config import TrainConfig
    from yololab.train.trainer import Trainer

    cfg = TrainConfig(model="yolov5n", data=str(coco128 / "data.yaml"), imgsz=320, batch=16, epochs=1,
                      device="0", workers=2, out=str(tmp_path / "run"), progress=False, plots=False)
    trainer = Trainer(cfg)
    try:
        trainer.setup()
        assert trainer.amp and trainer.scaler.is_enabled()
        before = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        losses, images = trainer.train_one_epoch(0, max_batches=4)
    finally:
        trainer.release()
    assert images == 64 and all(np.isfinite(losses)) and all(v > 0 for v in losses)
    after = trainer.model.state_dict()
    changed = sum(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())
    assert changed > len(before) // 2
    assert trainer.scaler.get_scale() > 0


def test_cuda_nms_equals_cpu_nms(cuda, yolov5n_pt, val_batch) -> None:
    model = load_model(yolov5n_pt).fuse().eval()
    with torch.no_grad():
        pred = model.decode(model(val_batch.float() / 255))
    on_cpu = non_max_suppression(pred, 0.001, 0.6)
    on_gpu = non_max_suppression(pred.to(cuda), 0.001, 0.6)
    for a, b in zip(on_cpu, on_gpu):
        assert a.shape == b.shape and len(a) > 0
        torch.testing.assert_close(b.cpu(), a)


def test_fp16_latency_and_outputs(cuda, val_batch) -> None:
    model = build_model("yolov5s", None, 80).fuse().eval().to(cuda)
    x = (val_batch.float() / 255).to(cuda)
    with torch.no_grad():
        ref = model.decode(model(x))
        half = model.half()
        out = half.decode(half(x.half())).float()
        ms = summarize(time_calls(lambda: half(x.half()), runs=30, warmup=10, sync=torch.cuda.synchronize))
    boxes = ref[..., :4]
    assert (out[..., :4] - boxes).abs().max() <= 0.02 * boxes.abs().max()
    print(f"yolov5s FP16 batch 8 at 640: median {ms['median_ms']:.2f} ms, p90 {ms['p90_ms']:.2f} ms")
    assert ms["median_ms"] < 1000


def test_validation_on_gpu_equals_cpu(cuda, coco128, yolov5n_pt) -> None:
    records, _ = load_split(coco128 / "data.yaml", "val", log=False)
    names = [str(i) for i in range(80)]
    settings = ValSettings(image_size=640, batch_size=32, workers=4)
    results = {}
    for device in ("cpu", cuda):
        model = load_model(yolov5n_pt).fuse().eval()
        results[str(device)] = validate(model, records, names, settings, device, progress=False).metrics.as_dict()
    cpu, gpu = results["cpu"], results[str(cuda)]
    for key in ("map50_95", "map50", "map75"):
        assert abs(cpu[key] - gpu[key]) < 1e-3, (key, cpu[key], gpu[key])


def test_torch_backend_on_gpu_equals_cpu(cuda, yolov5n_pt, coco128, monkeypatch) -> None:
    """``--device 0`` for predict/bench/serve: the torch backend on the GPU gives the CPU's boxes within
    1e-3 of the input size. TF32 (PyTorch's cuDNN default, 10 mantissa bits) is off here, so the test
    compares FP32 with FP32."""
    from yololab.deploy.runtime.images import decode_image_bytes
    from yololab.deploy.runtime.pipeline import Predictor

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    images = [decode_image_bytes(p.read_bytes()) for p in sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:4]]
    cpu = Predictor(yolov5n_pt, 640, device="cpu")
    gpu = Predictor(yolov5n_pt, 640, device="0")
    assert gpu.backend.device == "cuda:0" and gpu.backend.info()["device"] == "cuda:0"
    assert next(gpu.backend.model.parameters()).is_cuda
    x, _ = cpu.preprocess(images)
    raw_cpu, raw_gpu = cpu.infer(x), gpu.infer(x)
    keep = raw_cpu[..., 4] > 0.1
    assert keep.any()
    assert abs(raw_gpu[..., :4][keep] - raw_cpu[..., :4][keep]).max() / 640 <= 1e-3
    for a, b in zip(cpu(images), gpu(images)):
        assert a.shape == b.shape and len(a) > 0
        assert abs(b[:, :4] - a[:, :4]).max() / 640 <= 1e-3 and abs(b[:, 4] - a[:, 4]).max() <= 1e-3
        assert (a[:, 5] == b[:, 5]).all()
