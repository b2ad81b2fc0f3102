"""INT8 post-training static quantization of an exported ONNX detector (ONNX Runtime, QDQ).

``quantize_onnx(fp32.onnx, int8.onnx, data="data.yaml", calib_images=300)`` calibrates activation
ranges on letterboxed *training* images of the data YAML (never the validation split), then writes a
QDQ model: per-channel symmetric INT8 weights, asymmetric UINT8 activations (the U8S8 layout of ONNX
Runtime's x86 kernels, which use AVX-512 VNNI where the CPU has it). ONNX Runtime fuses each
DequantizeLinear -> op -> QuantizeLinear group into an integer kernel (QLinearConv, QLinearSigmoid,
QLinearMul, QLinearConcat, ...). ``export_model(..., fmt="onnx", int8=True)`` calls it after the
FP32 export. INT8 is ONNX-only: OpenVINO reads the QDQ file too, but scored 2.3 points lower on
coco128 val (rect batches) and was no faster than its FP32; NNCF-quantized IR matched this file's
speed and accuracy (0.3305 vs 0.3337 square) at the cost of a new dependency.

Choices, measured on yolov5n / coco128 at 640 (val2017 mAP50-95, FP32 0.3397 square letterbox):

- calibration: the 99.999th percentile of each activation's histogram (0.3337) beats MinMax
  (0.3245) and entropy (0.3291);
- kept in float: the decode tail (everything after the three head convolutions: Reshape/Transpose,
  Sigmoid, the grid/anchor Mul/Add/Pow, the final Concat, whose output mixes pixel coordinates and
  probabilities that no single 8-bit scale holds) and the three head convolutions themselves
  (their outputs are the box/objectness logits: quantizing them cost 0.7 point, 0.3270 vs 0.3337);
- everything else is quantized, SiLU included: leaving Sigmoid/Mul in float is a little more
  accurate but slower in ONNX Runtime (no fused integer SiLU, and a Dequantize/Quantize pair
  around every activation).

ONNX Runtime 1.32 notes: ``CalibMaxIntermediateOutputs`` silently drops the calibration data it
flushes (MinMax), so it is not used; the histogram methods keep every activation of every image
unless fed in chunks, so calibration goes through ``CalibStridedMinMax`` chunks of <= 16 images.
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
    there are fewer, else a random pick of ``n`` (deterministic for a ``seed``), in file order."""
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
                  imgsz: int | tuple[int, int] | None = None, method: str = "percentile",
                  per_channel: bool = True, exclude_tail: bool = True, exclude: Sequence[str] = (),
                  activation_type: str = "uint8", preprocess: bool = True, seed: int = 0,
                  op_types: Sequence[str] | None = None, exclude_head: bool = True,
                  extra_options: dict[str, Any] | None = None) -> Path:
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


# ------------------------------------------------------------------------------ export entry point
def export_int8(wrapper: Any, images: Any, out: Path, meta: dict[str, Any], *, dynamic: bool, opset: int,
                data: str | os.PathLike | None, calib_images: int = 300, method: str = "percentile",
                calib_files: Sequence[str | os.PathLike] | None = None) -> Path:
    """``export_model(..., int8=True)``: the FP32 ONNX export (to a temporary file), then ORT static
    quantization to ``out``. Calibration letterbox: the export's ``imgsz`` (``images``' size)."""
    from yololab.deploy.export import export_onnx

    hw = tuple(int(v) for v in images.shape[2:])
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(wrapper, images, Path(tmp) / "fp32.onnx", meta, dynamic, False, None, opset)
        return quantize_onnx(fp32, out, data, calib_images=calib_images, images=calib_files, imgsz=hw,
                             method=method)


# ------------------------------------------------------------------------------ FP32 vs INT8 report
def _spec(spec: Any) -> tuple[Path, str | None]:
    return (Path(spec[0]), spec[1]) if isinstance(spec, tuple) else (Path(spec), None)


def measure_latency(models: dict[str, Any], imgsz: int | tuple[int, int] = 640, runs: int = 30,
                    warmup: int = 5, threads: int | None = None, image: str | os.PathLike | None = None,
                    block: int = 5, pause: float = 0.1) -> dict[str, dict[str, float]]:
    """Batch-1 model latency (``Backend.infer`` on a letterboxed real image) of several models.

    ``models``: label -> path or (path, backend kind). The models take turns in blocks of ``block``
    timed runs (>= ``runs`` in all), so that the drifting load of a shared machine hits them alike;
    each block starts after a ``pause`` and one untimed run, so that the previous model's thread
    pool has stopped spinning (ONNX Runtime's idle workers spin-wait: back-to-back single runs of
    two multi-threaded sessions on 2 cores slow whichever runs second by up to 1.6x). Per model:
    median and min wall ms, and the median CPU ms of this process (steadier than wall time when
    other jobs compete for the cores; above wall time when several threads work)."""
    from yololab.deploy.backends import Backend
    from yololab.deploy.samples import sample_batch

    backends = {label: Backend(path, threads=threads, kind=kind)
                for label, (path, kind) in ((k, _spec(v)) for k, v in models.items())}
    x = sample_batch(_pair(imgsz), 1, 32, image)
    for backend in backends.values():
        for _ in range(warmup):
            backend.infer(x)
    wall: dict[str, list[float]] = {k: [] for k in backends}
    cpu: dict[str, list[float]] = {k: [] for k in backends}
    for _ in range(-(-runs // block)):
        for label, backend in backends.items():
            time.sleep(pause)
            backend.infer(x)
            for _ in range(block):
                c, t = time.process_time(), time.perf_counter()
                backend.infer(x)
                wall[label].append((time.perf_counter() - t) * 1000)
                cpu[label].append((time.process_time() - c) * 1000)
    return {k: {"median_ms": float(np.median(wall[k])), "min_ms": float(np.min(wall[k])),
                "cpu_median_ms": float(np.median(cpu[k])), "runs": len(wall[k]),
                "threads": backends[k].threads} for k in backends}


def measure_map(model: Any, data: str | os.PathLike, imgsz: int = 640, split: str = "val",
                batch: int = 16, workers: int = 0) -> dict[str, Any]:
    """COCO mAP of a .pt or exported file (path or (path, backend kind)) on a split of a data YAML,
    through ``validate``: rect batches, or the square letterbox for a fixed-shape export.

    ``workers=0`` by default: forking DataLoader workers from a process that already holds several
    OpenVINO and ONNX Runtime sessions crashed (SIGSEGV) here; loading in-process costs little
    next to inference."""
    from yololab.data import load_data_config, load_split
    from yololab.deploy.model_adapter import ExportedModel, load_val_model
    from yololab.eval.validate import ValSettings, validate

    path, kind = _spec(model)
    records, _ = load_split(data, split, log=False)
    net = ExportedModel(path, kind=kind) if kind else load_val_model(path)
    net = net.float().fuse().eval()
    settings = ValSettings(image_size=imgsz, batch_size=batch, workers=workers)
    metrics = validate(net, records, load_data_config(data).names, settings, progress=False)
    return {"map50_95": float(metrics["map50_95"]), "map50": float(metrics["map50"]),
            "images": len(records), "rect": getattr(net, "input_hw", None) is None}


def compare_models(models: dict[str, Any], data: str | os.PathLike, imgsz: int = 640, runs: int = 30,
                   threads: int | None = None, split: str = "val") -> list[dict[str, Any]]:
    """One row per model: mAP50-95 / mAP50 on ``split``, and (exported files only) interleaved
    batch-1 latency at ``imgsz``. ``models``: label -> path or (path, backend kind)."""
    from yololab.deploy.backends import backend_kind

    timed = {k: v for k, v in models.items() if _spec(v)[1] or backend_kind(_spec(v)[0]) != "torch"}
    latency = measure_latency(timed, imgsz, runs, threads=threads) if runs else {}
    return [{"model": label, "path": str(_spec(spec)[0]), **measure_map(spec, data, imgsz, split),
             **latency.get(label, {})} for label, spec in models.items()]


def format_comparison(rows: Sequence[dict[str, Any]], baseline: str | None = None,
                      target: str | None = None) -> str:
    """A plain table (mAP50-95, mAP50, latency median/min/CPU, threads) with the load average; the
    last line compares ``target`` with ``baseline`` (default: the last and first timed rows)."""
    lines = [(f"{'model':<26}{'mAP50-95':>9}{'mAP50':>8}{'median ms':>11}{'min ms':>8}{'CPU ms':>8}"
              f"{'threads':>8}  protocol")]
    for r in rows:
        lat = (f"{r['median_ms']:>11.1f}{r['min_ms']:>8.1f}{r['cpu_median_ms']:>8.1f}"
               f"{r.get('threads') or 'auto':>8}"
               if "median_ms" in r else f"{'-':>11}{'-':>8}{'-':>8}{'-':>8}")
        scores = (f"{r['map50_95']:>9.4f}{r['map50']:>8.4f}" if "map50_95" in r else f"{'-':>9}{'-':>8}")
        protocol = (f"{r['images']} images, {'rect batches' if r['rect'] else 'square letterbox'}"
                    if "images" in r else "latency only")
        lines.append(f"{r['model']:<26}{scores}{lat}  {protocol}")
    timed = [r for r in rows if "median_ms" in r]
    by_label = {r["model"]: r for r in rows}
    a = by_label.get(baseline) if baseline else (timed[0] if timed else None)
    b = by_label.get(target) if target else (timed[-1] if len(timed) > 1 else None)
    if a and b and "median_ms" in a and "median_ms" in b and "map50_95" in a and "map50_95" in b:
        lines.append(f"{b['model']} vs {a['model']}: mAP50-95 {100 * (b['map50_95'] - a['map50_95']):+.2f} "
                     f"points; {a['median_ms'] / b['median_ms']:.2f}x the speed by median wall time "
                     f"({a['cpu_median_ms'] / b['cpu_median_ms']:.2f}x by CPU time)")
    lines.append(load_line())
    return "\n".join(lines)


def load_line() -> str:
    if not hasattr(os, "getloadavg"):
        return "load average: n/a"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} logical CPUs"


def compare_int8(weights: str | os.PathLike, int8_path: str | os.PathLike, data: str | os.PathLike,
                 imgsz: int = 640, fmt: str = "onnx", runs: int = 30,
                 threads: int | None = None) -> list[dict[str, Any]]:
    """What ``yololab export --int8`` prints: an FP32 export made like ``int8_path`` (same format,
    size and dynamic setting) beside it, mAP on the val split and interleaved batch-1 latency."""
    from yololab.deploy.backends import Backend
    from yololab.deploy.export import FORMATS, export_model

    meta = Backend(int8_path).meta
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_model(weights, fmt, imgsz=imgsz, dynamic=bool(meta.get("dynamic")), check=False,
                            out=Path(tmp) / f"fp32{FORMATS[fmt]}")
        rows = compare_models({"FP32": fp32, "INT8": int8_path}, data, imgsz, runs, threads)
    print(format_comparison(rows))
    return rows
