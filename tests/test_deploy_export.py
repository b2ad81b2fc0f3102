"""Exports (ONNX, OpenVINO, TorchScript) match PyTorch on real coco128 images: raw outputs and
detections after NMS. yolov5n from the real upstream checkpoint, 320 px for speed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from yololab.deploy.exporting.export import ExportParityError, check_parity, export_model
from yololab.deploy.exporting.parity import compare_outputs
from yololab.deploy.runtime.backends import Backend
from yololab.deploy.runtime.graph import DecodedDetector
from yololab.deploy.runtime.images import load_image, preprocess
from yololab.deploy.runtime.postprocess import postprocess, scale_detections

IMGSZ = 320
N_IMAGES = 4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def v5n(yolov5n_pt):
    import yololab

    return yololab.load_model(yolov5n_pt)


@pytest.fixture(scope="module")
def batch(coco128):
    """Four real val2017 images, letterboxed to 320 (odd aspect ratios included)."""
    files = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:N_IMAGES]
    return preprocess([load_image(f) for f in files], IMGSZ)


@pytest.fixture(scope="module")
def reference(v5n, batch):
    """PyTorch (fused, eager) outputs and detections for the batch."""
    import copy

    wrapper = DecodedDetector(copy.deepcopy(v5n).fuse()).eval()
    with torch.inference_mode():
        raw = wrapper(torch.from_numpy(batch[0])).numpy()
    return raw, postprocess(raw, (IMGSZ, IMGSZ), batch[1])


@pytest.fixture(scope="module")
def exports(v5n, tmp_path_factory):
    """Paths of each export, made lazily once per module."""
    root, made = tmp_path_factory.mktemp("exports"), {}

    def get(fmt: str, **kw) -> Path:
        key = (fmt, tuple(sorted(kw.items())))
        if key not in made:
            suffix = {"onnx": ".onnx", "openvino": "_openvino_model", "torchscript": ".torchscript"}[fmt]
            kw.setdefault("check", False)  # the tests compare themselves, on four images
            kw.setdefault("dynamic", False)  # fixed 1 x 3 x IMGSZ x IMGSZ unless a test says otherwise
            made[key] = export_model(v5n, fmt, imgsz=IMGSZ, out=root / f"m{len(made)}{suffix}", **kw)
        return made[key]

    return get


def assert_same_detections(got: list[np.ndarray], ref: list[np.ndarray]) -> None:
    """Same detections per image: class equal, boxes within 1 px, scores within 1e-3."""
    assert sum(len(r) for r in ref) > 0, "the reference found nothing: the check would be empty"
    for g, r in zip(got, ref):
        assert len(g) == len(r), f"{len(g)} detections vs {len(r)}"
        for row in r:
            same_cls = g[g[:, 5] == row[5]]
            assert len(same_cls), f"class {row[5]} missing"
            k = np.abs(same_cls[:, :4] - row[:4]).max(1).argmin()
            assert np.abs(same_cls[k, :4] - row[:4]).max() < 1.0
            assert abs(same_cls[k, 4] - row[4]) < 1e-3


def check_backend(path: Path, batch, reference, kind: str | None = None) -> None:
    raw_ref, dets_ref = reference
    backend = Backend(path, threads=1, kind=kind)
    raw = backend.infer(batch[0])
    parity = compare_outputs(raw, raw_ref, (IMGSZ, IMGSZ))
    assert parity.max_abs < 1e-3, parity
    assert parity.box_px < 0.05 and parity.prob < 1e-4, parity
    assert_same_detections(postprocess(raw, (IMGSZ, IMGSZ), batch[1]), dets_ref)


def test_onnx_matches_pytorch(exports, batch, reference, capsys):
    path = exports("onnx", check=True)
    assert "max abs difference" in capsys.readouterr().out
    import onnx

    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim] == [1, 6300, 85]
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node), "not fused"
    check_backend(path, batch, reference)


def test_onnx_in_graph_nms_matches_python_nms(exports, batch, reference):
    path = exports("onnx", nms=True, dynamic=True)
    backend = Backend(path)
    assert backend.has_nms and backend.static_batch is None
    check_backend(path, batch, reference)  # output0 is still there, dynamic batch of 4
    dets = [scale_detections(d, (IMGSZ, IMGSZ), info) for d, info in zip(backend.infer_nms(batch[0]), batch[1])]
    assert_same_detections(dets, reference[1])


def test_torchscript_matches_pytorch(exports, batch, reference):
    check_backend(exports("torchscript"), batch, reference)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                    reason="openvino is not installed (pip install openvino)")
def test_openvino_matches_pytorch(exports, batch, reference):
    path = exports("openvino")
    assert path.suffix == ".xml" and path.with_suffix(".bin").is_file()
    check_backend(path, batch, reference)
    check_backend(path.parent, batch, reference)  # the folder works too

    nms = Backend(exports("openvino", nms=True), threads=1)
    dets = [scale_detections(d, (IMGSZ, IMGSZ), info) for d, info in zip(nms.infer_nms(batch[0]), batch[1])]
    assert_same_detections(dets, reference[1])


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                    reason="openvino is not installed (pip install openvino)")
def test_openvino_bf16_backend_is_close_to_fp32(exports, batch, reference):
    """bf16 keeps about 3 significant digits: the top detections survive, boxes move a little."""
    from torchvision.ops import box_iou

    backend = Backend(exports("openvino"), threads=1, kind="openvino-bf16")
    assert backend.kind == "openvino-bf16" and backend.info()["precision"] == "bf16"
    got = postprocess(backend.infer(batch[0]), (IMGSZ, IMGSZ), batch[1])
    matched = total = 0
    for g, r in zip(got, reference[1]):
        for row in r[r[:, 4] > 0.5]:
            total += 1
            same = g[g[:, 5] == row[5]]
            ious = box_iou(torch.from_numpy(row[None, :4]).float(), torch.from_numpy(same[:, :4]).float())
            matched += bool(len(same)) and float(ious.max()) > 0.9
    assert total >= 3 and matched == total, f"{matched}/{total} confident FP32 detections kept in bf16"


def test_export_leaves_the_callers_model_unfused(v5n):
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in v5n.modules())


def test_parity_failure_raises(v5n, exports, batch, monkeypatch):
    import copy

    import yololab.deploy.exporting.export as ex

    wrapper = DecodedDetector(copy.deepcopy(v5n).fuse()).eval()
    wrapper.model.head.m[0].bias.data += 0.5  # a different model than the file holds
    with pytest.raises(ExportParityError, match="differ"):
        check_parity(wrapper, exports("onnx", check=True), torch.from_numpy(batch[0][:1]), "onnx", half=False)
    monkeypatch.setattr(ex, "FP32_TOLERANCE", 1.0)
    check_parity(wrapper, exports("onnx", check=True), torch.from_numpy(batch[0][:1]), "onnx", half=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"fmt": "tflite"}, "unknown export format"),
    ({"fmt": "torchscript", "nms": True}, "needs an ONNX graph"),
    ({"imgsz": 300}, "not a multiple of the model stride"),
    ({"batch": 0}, "batch must be"),
])
def test_export_rejects_bad_arguments(v5n, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_model(v5n, **{"fmt": "onnx", **kwargs})


def test_resnet50_backbone_exports_and_matches(coco128, tmp_path):
    import yololab

    torch.manual_seed(0)
    model = yololab.build_model("yolov5s", backbone="resnet50", num_classes=80)
    path = export_model(model, "onnx", imgsz=IMGSZ, out=tmp_path / "r50.onnx", check=False)
    files = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:2]
    x, infos = preprocess([load_image(f) for f in files], IMGSZ)
    with torch.inference_mode():
        ref = DecodedDetector(model.fuse().eval())(torch.from_numpy(x)).numpy()
    raw = Backend(path, threads=1).infer(x)
    assert compare_outputs(raw, ref, (IMGSZ, IMGSZ)).max_abs < 1e-3
    ref_d = postprocess(ref, (IMGSZ, IMGSZ), infos, conf=0.01)
    got_d = postprocess(raw, (IMGSZ, IMGSZ), infos, conf=0.01)
    assert [len(d) for d in got_d] == [len(d) for d in ref_d]


def test_backend_must_fit_the_file(exports, yolov5n_pt):
    """A runtime that cannot read the file is refused up front with the fix in the message."""
    with pytest.raises(ValueError, match="export it first: yololab export .* --format openvino"):
        Backend(yolov5n_pt, kind="openvino-bf16")
    with pytest.raises(ValueError, match="cannot run .*an ONNX file"):
        Backend(exports("onnx"), kind="torchscript")
    if importlib.util.find_spec("openvino") is not None:
        assert Backend(exports("onnx"), kind="openvino").kind == "openvino"  # OpenVINO reads ONNX
