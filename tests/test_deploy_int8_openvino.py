"""OpenVINO INT8 (NNCF) export of the real yolov5n.pt, calibrated on 16 real coco128 training
images at 320 px, checked on 16 real val2017 images against the FP32 OpenVINO export."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_module

require_module("openvino")
require_module("nncf")

IMGSZ = 320

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(yolov5n_pt, coco128_mini, tmp_path_factory) -> dict[str, Path]:
    from yololab.deploy.exporting.export import export_model

    tmp = tmp_path_factory.mktemp("ov_int8")
    return {
        "fp32": export_model(yolov5n_pt, "openvino", imgsz=IMGSZ, dynamic=False, out=tmp / "fp32_openvino_model",
                             check=False),
        "int8": export_model(yolov5n_pt, "openvino", imgsz=IMGSZ, dynamic=False, int8=True, data=coco128_mini,
                             calib_images=16,
                             out=tmp / "int8_openvino_model", check=False),
    }


def test_openvino_int8_ir_has_quantized_convolutions_and_float_head(models) -> None:
    import openvino as ov

    from yololab.deploy.runtime.backends import Backend

    model = ov.Core().read_model(str(models["int8"]))
    fq = [op for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize"]
    assert len(fq) > 50, "NNCF should put FakeQuantize before most convolutions"
    consumers = {t.get_node().get_friendly_name() for op in fq for t in op.output(0).get_target_inputs()}
    assert any("/backbone/" in n for n in consumers)
    assert not any(n.startswith("/head/") for n in consumers), "the head convolutions stay in float"
    backend = Backend(models["int8"], threads=1)
    assert backend.meta["int8"]["backend"] == "openvino" and backend.meta["int8"]["calib_images"] == 16
    assert len(backend.names) == 80 and backend.static_hw == (IMGSZ, IMGSZ)


def test_openvino_int8_map_close_to_fp32(models, coco128_mini, exported_map) -> None:
    fp32, int8 = (exported_map(models, coco128_mini, IMGSZ)[k] for k in ("fp32", "int8"))
    assert fp32["map50_95"] > 0.2
    # 16 calibration and 16 val images at 320: a loose bound (640 / all coco128: benchmarks/bench_int8.py)
    assert int8["map50_95"] == pytest.approx(fp32["map50_95"], abs=0.03)
    assert int8["map50"] == pytest.approx(fp32["map50"], abs=0.03)
