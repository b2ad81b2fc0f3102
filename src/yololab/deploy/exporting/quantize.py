"""INT8 post-training static quantization of an exported ONNX detector (ONNX Runtime, QDQ).

``quantize_onnx(fp32.onnx, int8.onnx, data="data.yaml", calib_images=300)`` calibrates activation
ranges on letterboxed *training* images of the data YAML (never the validation split), then writes a
QDQ model: per-channel symmetric INT8 weights, asymmetric UINT8 activations (the U8S8 layout of ONNX
Runtime's x86 kernels). ONNX Runtime fuses each DequantizeLinear -> op -> QuantizeLinear group into
an integer kernel (QLinearConv, QLinearSigmoid, QLinearMul, QLinearConcat, ...).
``export_model(..., fmt="onnx", int8=True)`` calls it after the FP32 export; OpenVINO INT8 goes
through NNCF instead (``quantize_openvino``). Neither module imports ``export``.

Choices (the README's INT8 section has the measurements behind them):

- calibration: the 99.999th percentile of each activation's histogram, more accurate than MinMax
  and entropy on yolov5n / coco128;
- kept in float: the decode tail (everything after the three head convolutions: Reshape/Transpose,
  Sigmoid, the grid/anchor Mul/Add/Pow, the final Concat, whose output mixes pixel coordinates and
  probabilities that no single 8-bit scale holds) and the three head convolutions themselves
  (their outputs are the box/objectness logits, which lost accuracy when quantized);
- weights (``weights=``): ``s8-7bit`` by default, INT8 in [-64, 64] (ORT's ``reduce_range``) with
  the stem convolution in float. ONNX Runtime's U8S8 kernels on x86 CPUs without VNNI (AVX2-only:
  VPMADDUBSW) add pairs of u8 x s8 products in saturating 16 bits; 255 x 64 x 2 fits, 255 x 127 x 2
  does not, so full-range weights (``s8``) are exact only on CPUs with VNNI/AMX and lose several mAP
  points elsewhere. The saturation happens where the file runs, not where it was made, so the
  default is the scheme exact everywhere: its cost on VNNI is within the 1-point budget, and the
  stem (3 raw-pixel input channels) is where 7-bit weights cost most. ``u8`` (U8U8) is exact too
  but less accurate and slower on VNNI. ``s8`` is for VNNI-only deployments; an ORT INT8 file with
  it warns when loaded where U8S8 saturates (``runtime.saturation``);
- everything else is quantized, SiLU included: leaving Sigmoid/Mul in float is a little more
  accurate but slower in ONNX Runtime (no fused integer SiLU, and a Dequantize/Quantize pair
  around every activation).

ONNX Runtime notes: ``CalibMaxIntermediateOutputs`` silently drops the calibration data it flushes
(MinMax), so it is not used; the histogram methods keep every activation of every image unless fed
in chunks, so calibration goes through ``CalibStridedMinMax`` chunks of <= 16 images.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yololab.atomic import atomic_write, check_target
from yololab.deploy.exporting.calibration import LetterboxCalibrationReader, calibration_files
from yololab.data.source import dataset_pixels
from yololab.deploy.runtime import metadata as md
from yololab.deploy.runtime.saturation import saturation_warning

LOG = logging.getLogger("yololab")
CALIB_METHODS = ("minmax", "percentile", "entropy")
# Weight schemes: s8-7bit = INT8 weights in [-64, 64] (ORT's reduce_range) with the stem conv in
# float, s8 = full INT8 range, u8 = asymmetric UINT8 weights (ORT's U8U8 kernels).
WEIGHT_SCHEMES = ("s8-7bit", "s8", "u8")
WEIGHT_NOTES = {"s8-7bit": "7-bit INT8, exact on every x86 CPU",
                "s8": "full-range INT8, exact only on CPUs with VNNI/AMX (or ARM)",
                "u8": "UINT8 (U8U8 kernels), exact on every x86 CPU"}


# ------------------------------------------------------------------------------ graph helpers
def decode_tail_nodes(proto: Any, stop_ops: Sequence[str] = ("Conv",)) -> list[str]:
    """Names of the nodes between the last ``stop_ops`` nodes (the head convolutions) and the graph
    outputs: the in-graph decode (and NMS, if appended). Walks the graph backwards from the outputs."""
    producer = {out: node for node in proto.graph.node for out in node.output}
    initializers = {init.name for init in proto.graph.initializer}
    seen: set[str] = set()
    stack = [o.name for o in proto.graph.output]
    tail: list[str] = []
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or node.name in seen or node.op_type in stop_ops:
            continue
        seen.add(node.name)
        tail.append(node.name)
        stack.extend(i for i in node.input if i and i not in initializers)
    return tail


def head_conv_nodes(proto: Any) -> list[str]:
    """The convolutions that feed the decode tail (the detection head's output layers)."""
    tail = set(decode_tail_nodes(proto))
    producer = {out: node for node in proto.graph.node for out in node.output}
    return sorted({producer[i].name for node in proto.graph.node if node.name in tail
                   for i in node.input if i in producer and producer[i].op_type == "Conv"})


def input_conv_nodes(proto: Any) -> list[str]:
    """The convolutions that read the graph input (the stem: C input channels, raw pixels)."""
    inputs = {i.name for i in proto.graph.input}
    return [n.name for n in proto.graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]


def _name_nodes(proto: Any) -> None:
    """Give unnamed nodes a name (the quantizer's exclusion list works by node name)."""
    for i, node in enumerate(proto.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"


def _input_hw(proto: Any, imgsz: int | tuple[int, int] | None) -> tuple[int, int]:
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    fixed = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    if fixed[2] and fixed[3]:
        if imgsz is not None and tuple(_pair(imgsz)) != (fixed[2], fixed[3]):
            LOG.warning("calibrating at the model's fixed input %dx%d, not --imgsz %s", fixed[2], fixed[3], imgsz)
        return fixed[2], fixed[3]
    return _pair(imgsz if imgsz is not None else 640)


def _input_channels(proto: Any) -> int:
    """The graph input's channel count (dimension 1; 3 when it is not fixed)."""
    dim = proto.graph.input[0].type.tensor_type.shape.dim[1]
    return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else 3


def _pair(imgsz: int | Sequence[int]) -> tuple[int, int]:
    return (int(imgsz), int(imgsz)) if isinstance(imgsz, (int, np.integer)) else (int(imgsz[0]), int(imgsz[-1]))


# ------------------------------------------------------------------------------ quantization
def quantize_onnx(model: str | os.PathLike, out: str | os.PathLike, data: str | os.PathLike | None = None, *,
                  calib_images: int = 300, images: Sequence[str | os.PathLike] | None = None,
                  imgsz: int | tuple[int, int] | None = None, method: str = "percentile",
                  per_channel: bool = True, exclude_tail: bool = True, exclude: Sequence[str] = (),
                  activation_type: str = "uint8", preprocess: bool = True, seed: int = 0,
                  op_types: Sequence[str] | None = None, exclude_head: bool = True,
                  extra_options: dict[str, Any] | None = None, weights: str = "s8-7bit") -> Path:
    """Quantize an FP32 ONNX detector to INT8 (QDQ) with ONNX Runtime static quantization.

    Calibration images: ``images`` if given, else ``calib_images`` training images of ``data``.
    ``imgsz`` is the calibration letterbox size for a dynamic-shape model (a fixed-shape model uses
    its own). ``method``: percentile (default; 99.999th percentile of each activation's histogram,
    the best of the three for yolov5n on coco128), minmax or entropy. ``exclude_tail`` keeps the decode
    tail in float (see the module doc); ``exclude`` adds more node names. Returns ``out``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if weights not in WEIGHT_SCHEMES:
        raise ValueError(f"unknown INT8 weight scheme {weights!r}; expected one of {', '.join(WEIGHT_SCHEMES)}")
    if method not in CALIB_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(CALIB_METHODS)}")
    model, out = Path(model), Path(out)
    if images is None:
        if data is None:
            raise ValueError("INT8 calibration needs images: pass data (a data YAML) or images")
        images = calibration_files(data, calib_images, seed=seed)
    proto = onnx.load(str(model))
    meta = md.loads(next((p.value for p in proto.metadata_props if p.key == md.KEY), None))
    if meta.get("half"):
        raise ValueError(f"{model} is an FP16 export; quantize an FP32 export (half=False)")
    if meta.get("nms"):
        raise ValueError(f"{model} has NMS in its graph; quantize an export without nms")
    hw = _input_hw(proto, imgsz)
    stride = int(meta.get("stride") or 32)
    props = {p.key: p.value for p in proto.metadata_props}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "fp32.onnx"
        if preprocess:  # shape inference + ORT graph optimisations first, as ORT recommends
            try:
                quant_pre_process(str(model), str(src), skip_symbolic_shape=False)
            except Exception as err:  # noqa: BLE001 - ORT raises a bare Exception when symbolic
                # shape inference gives up (dynamic H/W through Resize): ONNX's own inference then
                LOG.debug("symbolic shape inference failed (%s); ONNX shape inference only", err)
                quant_pre_process(str(model), str(src), skip_symbolic_shape=True)
            proto = onnx.load(str(src))
        _name_nodes(proto)
        onnx.save(proto, str(src))
        skip = list(exclude) + (decode_tail_nodes(proto) if exclude_tail else [])
        if exclude_head:
            skip += head_conv_nodes(proto)
        if weights == "s8-7bit":  # 7-bit weights cost most on the stem's few raw-pixel channels
            skip += input_conv_nodes(proto)
        reader = LetterboxCalibrationReader(images, hw, stride, proto.graph.input[0].name, _input_channels(proto),
                                            pixels=None if data is None else dataset_pixels(data))
        # Not CalibMaxIntermediateOutputs: ORT 1.32's MinMax calibrator drops the chunks it clears.
        options = {"ActivationSymmetric": activation_type == "int8", "WeightSymmetric": weights != "u8"}
        if method == "percentile":
            options["CalibPercentile"] = 99.999
        # Calibrate in chunks (ORT merges the ranges/histograms): the histogram methods would
        # otherwise keep every activation of every image in memory (tens of GB at 640).
        options["CalibStridedMinMax"] = max(d for d in range(1, 17) if len(images) % d == 0)
        options.update(extra_options or {})
        check_target(out)  # ORT writes ``out`` itself: never through a planted link
        quantize_static(str(src), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
                        weight_type=QuantType.QUInt8 if weights == "u8" else QuantType.QInt8,
                        reduce_range=weights == "s8-7bit", nodes_to_exclude=skip,
                        op_types_to_quantize=list(op_types) if op_types else None,
                        calibrate_method={"minmax": CalibrationMethod.MinMax,
                                          "percentile": CalibrationMethod.Percentile,
                                          "entropy": CalibrationMethod.Entropy}[method],
                        extra_options=options)
    q = onnx.load(str(out))
    meta.update(int8={"backend": "onnxruntime", "format": "QDQ", "calibration": method,
                      "calib_images": len(images), "per_channel": per_channel,
                      "activations": activation_type, "weights": weights, "float_nodes": len(skip)})
    props[md.KEY] = md.dumps(meta)
    del q.metadata_props[:]
    for key, value in props.items():
        q.metadata_props.add(key=key, value=value)
    atomic_write(out, lambda handle: handle.write(q.SerializeToString()))
    LOG.info("INT8 %s: %s weights (%s), %d calibration images at %dx%d (%s), %d float nodes, %.1f s",
             out, weights, WEIGHT_NOTES[weights], len(images), *hw, method, len(skip),
             time.perf_counter() - started)
    warning = saturation_warning(meta["int8"])
    if warning:
        LOG.warning("%s: %s", out.name, warning)
    return out
