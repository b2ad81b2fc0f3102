"""``validate`` / ``yololab val`` on exported models (here ONNX) give the .pt's COCO metrics.

The real yolov5n.pt on 16 real coco128 val2017 images at 320 px (a coco128_mini, for speed): a dynamic
ONNX export goes through the same rectangular batches as the .pt; a fixed-shape export is scored
with square letterboxed batches, equal to the .pt scored the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import require_module

IMGSZ = 320
N_VAL = 16


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def records(coco128_mini):
    from yololab.data import load_data_config, load_split

    return load_split(coco128_mini, "val", log=False)[0], load_data_config(coco128_mini).names


@pytest.fixture(scope="module")
def exports(yolov5n_pt, tmp_path_factory) -> dict[str, Path]:
    from yololab.deploy.exporting.export import export_model

    tmp = tmp_path_factory.mktemp("exports")
    return {
        "dynamic": export_model(yolov5n_pt, "onnx", imgsz=IMGSZ, dynamic=True, out=tmp / "dyn.onnx", check=False),
        "static": export_model(yolov5n_pt, "onnx", imgsz=IMGSZ, dynamic=False, out=tmp / "static.onnx", check=False),
    }


def _val(model, records, rect: bool = True) -> dict:
    from yololab.eval.validate import ValSettings, validate

    settings = ValSettings(image_size=IMGSZ, batch_size=16, workers=0, rect=rect)
    return validate(model, *records, settings, progress=False).metrics.as_dict()


@pytest.fixture(scope="module")
def pt_metrics(yolov5n_pt, records) -> dict[str, dict]:
    import yololab

    model = yololab.load_model(yolov5n_pt).float().fuse().eval()
    return {"rect": _val(model, records), "square": _val(model, records, rect=False)}


def test_dynamic_onnx_equals_pt(exports, records, pt_metrics) -> None:
    from yololab.deploy.runtime.model_adapter import ExportedModel

    model = ExportedModel(exports["dynamic"], threads=1)
    assert model.input_hw is None and model.num_classes == 80 and model.stride == 32
    metrics = _val(model, records)  # an export fits validate's ValModel protocol like a Detector
    ref = pt_metrics["rect"]
    assert ref["map50_95"] > 0.2  # a real model on real images
    assert metrics["map50_95"] == pytest.approx(ref["map50_95"], abs=0.002)
    assert metrics["map50"] == pytest.approx(ref["map50"], abs=0.002)


def test_static_onnx_scored_with_square_batches(exports, records, pt_metrics) -> None:
    """A fixed 320x320 export cannot take rect batches: validate switches to the square letterbox,
    which is what the .pt gives with rect=False."""
    from yololab.deploy.runtime.model_adapter import ExportedModel

    metrics = _val(ExportedModel(exports["static"], threads=1), records)
    assert metrics["map50_95"] == pytest.approx(pt_metrics["square"]["map50_95"], abs=0.002)
    assert metrics["map50"] == pytest.approx(pt_metrics["square"]["map50"], abs=0.002)


def test_static_export_pads_smaller_batches(exports, coco128_image) -> None:
    """A batch smaller than the fixed input is padded (centred, letterbox grey) and its box centres
    shifted back: same detections as the dynamic export on that batch, up to border effects."""
    from yololab.deploy.runtime.images import load_image, preprocess
    from yololab.deploy.runtime.model_adapter import ExportedModel
    from yololab.eval.nms import non_max_suppression

    x = torch.from_numpy(preprocess([load_image(coco128_image)], (256, 320))[0])
    static, dynamic = ExportedModel(exports["static"], threads=1), ExportedModel(exports["dynamic"], threads=1)
    a = non_max_suppression(static.decode(static(x)), 0.25, 0.45)[0]
    b = non_max_suppression(dynamic.decode(dynamic(x)), 0.25, 0.45)[0]
    assert len(a) and len(b)
    assert a[0, 5] == b[0, 5]  # same top class
    assert torch.allclose(a[0, :4], b[0, :4], atol=4.0)  # same top box within a few pixels
    with pytest.raises(ValueError, match="dynamic"):
        static(torch.zeros(1, 3, 352, 320))


def test_val_cli_runs_an_onnx_export(exports, coco128_mini, pt_metrics, tmp_path, capsys) -> None:
    from yololab.cli import main

    out = tmp_path / "m.json"
    code = main(["val", "--weights", str(exports["dynamic"]), "--data", str(coco128_mini), "--imgsz", str(IMGSZ),
                 "--workers", "0", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["map50_95"] == pytest.approx(pt_metrics["rect"]["map50_95"], abs=0.002)


def test_val_of_the_default_cli_export_equals_pt(yolov5n_pt, coco128_mini, pt_metrics, tmp_path, capsys) -> None:
    """`yololab export` with no shape flags writes a dynamic file, so `yololab val` scores it with
    the .pt's rect batches and gets the .pt's mAP (a --static file would get the square letterbox's)."""
    from yololab.cli import main

    onnx_path, out = tmp_path / "default.onnx", tmp_path / "m.json"
    assert main(["export", "--weights", str(yolov5n_pt), "--imgsz", str(IMGSZ), "--out", str(onnx_path),
                 "--no-check"]) == 0
    code = main(["val", "--weights", str(onnx_path), "--data", str(coco128_mini), "--imgsz", str(IMGSZ),
                 "--batch", "16", "--workers", "0", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    got = json.loads(out.read_text())
    assert got["map50_95"] == pytest.approx(pt_metrics["rect"]["map50_95"], abs=0.002)
    assert got["map50"] == pytest.approx(pt_metrics["rect"]["map50"], abs=0.002)


def test_val_cli_backend_switch(exports, coco128_mini, pt_metrics, yolov5n_pt, tmp_path, capsys) -> None:
    """--backend runs the .onnx with OpenVINO in bf16 (close to FP32); a .pt with an export backend is refused."""
    require_module("openvino")
    from yololab.cli import main

    out = tmp_path / "bf16.json"
    code = main(["val", "--weights", str(exports["dynamic"]), "--backend", "openvino-bf16", "--data",
                 str(coco128_mini), "--imgsz", str(IMGSZ), "--workers", "0", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["map50_95"] == pytest.approx(pt_metrics["rect"]["map50_95"], abs=0.01)
    code = main(["val", "--weights", str(yolov5n_pt), "--backend", "openvino-bf16", "--data", str(coco128_mini)])
    assert code != 0 and "export it first" in capsys.readouterr().err
