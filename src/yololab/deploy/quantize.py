"""INT8 post-training static quantization of an exported ONNX detector (ONNX Runtime, QDQ).

``quantize_onnx(fp32.onnx, int8.onnx, data="data.yaml", calib_images=300)`` calibrates activation
ranges on letterboxed *training* images of the data YAML (never the validation split), then writes a
QDQ model: per-channel symmetric INT8 weights, asymmetric UINT8 activations (the U8S8 layout ONNX
Runtime's x86 kernels use with AVX-512 VNNI). ONNX Runtime fuses each DequantizeLinear -> op ->
QuantizeLinear group into an integer kernel (QLinearConv, QLinearSigmoid, QLinearMul, ...).

The decode tail (everything after the three head convolutions: the Reshape/Transpose, the
Sigmoid, the grid/anchor Mul/Add/Pow and the final Concat) stays in float: its output mixes box
coordinates in pixels (0..imgsz) with probabilities (0..1) in one tensor, which a single 8-bit scale
cannot hold, and it is a negligible share of the compute.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yololab.deploy import metadata as md

LOG = logging.getLogger("yololab")
CALIB_METHODS = ("minmax", "percentile", "entropy")
INPUT = "images"


# ------------------------------------------------------------------------------ calibration data
def calibration_files(data: str | os.PathLike, n: int = 300, split: str = "train",
                      seed: int = 0) -> list[Path]:
    """``n`` image paths of ``split`` (default the training split) of a data YAML: all of them when
    there are fewer, else an evenly spaced, seed-shuffled pick (deterministic)."""
    from yololab.data import load_split

    records, _ = load_split(data, split, log=False)
    paths = [Path(r.path) for r in records]
    if not paths:
        raise ValueError(f"{data}: the {split} split has no images to calibrate with")
    if n <= 0:
        raise ValueError(f"calib_images must be >= 1, got {n}")
    if n < len(paths):
        order = np.random.default_rng(seed).permutation(len(paths))[:n]
        paths = [paths[i] for i in sorted(order)]
    elif n > len(paths):
        LOG.info("calibrating on all %d %s images (%d asked for)", len(paths), split, n)
    return paths


class LetterboxCalibrationReader:
    """ONNX Runtime ``CalibrationDataReader``: one letterboxed (1, 3, H, W) float image in [0, 1]
    per call, the same preprocessing as ``yololab predict`` (grey 114 padding, RGB)."""

    def __init__(self, files: Sequence[str | os.PathLike], imgsz: tuple[int, int], stride: int = 32,
                 input_name: str = INPUT) -> None:
        self.files = [Path(f) for f in files]
        self.imgsz, self.stride, self.input_name = imgsz, stride, input_name
        self._it: Iterator[Path] = iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def batch(self, path: Path) -> np.ndarray:
        from yololab.deploy.images import load_image, preprocess

        return preprocess([load_image(path)], self.imgsz, self.stride)[0]

    def get_next(self) -> dict[str, np.ndarray] | None:
        path = next(self._it, None)
        return None if path is None else {self.input_name: self.batch(path)}

    def rewind(self) -> None:
        self._it = iter(self.files)

    def set_range(self, start_index: int, end_index: int) -> None:  # for ORT's strided calibration
        self._it = iter(self.files[start_index:end_index])


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


def _pair(imgsz: int | Sequence[int]) -> tuple[int, int]:
    return (int(imgsz), int(imgsz)) if isinstance(imgsz, (int, np.integer)) else (int(imgsz[0]), int(imgsz[-1]))


# ------------------------------------------------------------------------------ quantization
def quantize_onnx(model: str | os.PathLike, out: str | os.PathLike, data: str | os.PathLike | None = None, *,
                  calib_images: int = 300, images: Sequence[str | os.PathLike] | None = None,
                  imgsz: int | tuple[int, int] | None = None, method: str = "minmax",
                  per_channel: bool = True, exclude_tail: bool = True, exclude: Sequence[str] = (),
                  activation_type: str = "uint8", preprocess: bool = True, seed: int = 0,
                  op_types: Sequence[str] | None = None, exclude_head: bool = False,
                  extra_options: dict[str, Any] | None = None) -> Path:
    """Quantize an FP32 ONNX detector to INT8 (QDQ) with ONNX Runtime static quantization.

    Calibration images: ``images`` if given, else ``calib_images`` training images of ``data``.
    ``imgsz`` is the calibration letterbox size for a dynamic-shape model (a fixed-shape model uses
    its own). ``method``: minmax (default), percentile or entropy. ``exclude_tail`` keeps the decode
    tail in float (see the module doc); ``exclude`` adds more node names. Returns ``out``.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIB_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(CALIB_METHODS)}")
    model, out = Path(model), Path(out)
    if images is None:
        if data is None:
            raise ValueError("INT8 calibration needs images: pass data (a data YAML) or images")
        images = calibration_files(data, calib_images)
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
            quant_pre_process(str(model), str(src), skip_symbolic_shape=False)
            proto = onnx.load(str(src))
        _name_nodes(proto)
        onnx.save(proto, str(src))
        skip = list(exclude) + (decode_tail_nodes(proto) if exclude_tail else [])
        if exclude_head:
            skip += head_conv_nodes(proto)
        reader = LetterboxCalibrationReader(images, hw, stride, proto.graph.input[0].name)
        # Not CalibMaxIntermediateOutputs: ORT 1.32's MinMax calibrator drops the chunks it clears.
        options = {"ActivationSymmetric": activation_type == "int8", "WeightSymmetric": True}
        if method == "percentile":
            options["CalibPercentile"] = 99.999
        # Calibrate in chunks (ORT merges the ranges/histograms): the histogram methods would
        # otherwise keep every activation of every image in memory (tens of GB at 640).
        options["CalibStridedMinMax"] = max(d for d in range(1, 17) if len(images) % d == 0)
        options.update(extra_options or {})
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(src), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=skip,
                        op_types_to_quantize=list(op_types) if op_types else None,
                        calibrate_method={"minmax": CalibrationMethod.MinMax,
                                          "percentile": CalibrationMethod.Percentile,
                                          "entropy": CalibrationMethod.Entropy}[method],
                        extra_options=options)
    q = onnx.load(str(out))
    meta.update(int8={"backend": "onnxruntime", "format": "QDQ", "calibration": method,
                      "calib_images": len(images), "per_channel": per_channel,
                      "activations": activation_type, "float_nodes": len(skip)})
    props[md.KEY] = md.dumps(meta)
    del q.metadata_props[:]
    for key, value in props.items():
        q.metadata_props.add(key=key, value=value)
    onnx.save(q, str(out))
    LOG.info("INT8 %s: %d calibration images at %dx%d (%s), %d float tail nodes, %.1f s",
             out, len(images), *hw, method, len(skip), time.perf_counter() - started)
    return out
