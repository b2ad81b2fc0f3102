"""INT8 post-training quantization for OpenVINO with NNCF (``yololab export --format openvino --int8``).

The FP32 ONNX export is read by OpenVINO, NNCF inserts FakeQuantize nodes calibrated on letterboxed
*training* images of the data YAML (the same reader as the ONNX Runtime path), and the IR is saved
with yololab's metadata. Choices (the README's INT8 section has the measurements behind them):

- ``preset=MIXED`` (symmetric weights, asymmetric activations), NNCF's default for CPUs;
- no FakeQuantize in front of Multiply, Sigmoid, Subtract or Power (NNCF's ignored scope by type, as
  Ultralytics does for its OpenVINO INT8 exports). Quantizing the inputs of the SiLU's Multiply
  splits the x * sigmoid(x) pattern, so OpenVINO can no longer fuse SiLU into the INT8 convolution
  and runs it as separate f32 kernels (slower); the same rule keeps the decode tail (sigmoid,
  grid/anchor arithmetic) in float, where boxes need more than 8 bits;
- the detection head's 1x1 convolutions stay in float (their outputs are the box/objectness logits,
  which lose accuracy when quantized);
- full bias correction instead of NNCF's fast one (more accurate, slower to calibrate).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from yololab.data.source import dataset_pixels
from yololab.deploy.exporting.calibration import LetterboxCalibrationReader, calibration_files

LOG = logging.getLogger("yololab")
FLOAT_OP_TYPES = ("Multiply", "Sigmoid", "Subtract", "Power")
FLOAT_NODE_PATTERNS = ("/head/.*",)  # ONNX node names of the detection head (DecodedDetector export)


def quantize_openvino(onnx_path: str | os.PathLike, data: str | os.PathLike, hw: tuple[int, int],
                      stride: int = 32, calib_images: int = 300) -> tuple[Any, dict[str, Any]]:
    """NNCF-quantized OpenVINO model of an FP32 ONNX export, and the ``int8`` metadata to record."""
    try:
        import nncf
    except ImportError as err:
        raise ImportError("OpenVINO INT8 needs NNCF: pip install 'yololab[deploy]' (or pip install nncf)") from err
    import openvino as ov

    files = calibration_files(data, calib_images)
    started = time.perf_counter()
    model = ov.convert_model(str(onnx_path))
    channels = model.inputs[0].get_partial_shape()[1]
    reader = LetterboxCalibrationReader(files, hw, stride, channels=channels.get_length() if channels.is_static else 3,
                                        pixels=dataset_pixels(data))
    quantized = nncf.quantize(model, nncf.Dataset(files, reader.batch), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(files),
                              fast_bias_correction=False,
                              ignored_scope=nncf.IgnoredScope(types=list(FLOAT_OP_TYPES),
                                                              patterns=list(FLOAT_NODE_PATTERNS), validate=False))
    LOG.info("OpenVINO INT8 (NNCF %s): %d calibration images at %dx%d, %.1f s", nncf.__version__, len(files),
             *hw, time.perf_counter() - started)
    info = {"backend": "openvino", "tool": f"nncf {nncf.__version__}", "preset": "mixed",
            "calib_images": len(files), "float_op_types": list(FLOAT_OP_TYPES),
            "float_nodes": list(FLOAT_NODE_PATTERNS), "bias_correction": "full"}
    return quantized, info
