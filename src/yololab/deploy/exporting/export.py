"""Export a fused detector (decoding in the graph) to ONNX, OpenVINO IR or TorchScript.

The graph maps ``images`` (B, C, H, W in [0, 1]; C is the model's ``in_channels``, 3 for RGB) to
``output0`` (B, N, 5+nc) like upstream's export. ONNX uses the TorchScript-based ``torch.onnx.export`` (opset 17 by default; the dynamo
exporter would need onnxscript) and onnxslim; OpenVINO IR is converted from that ONNX file.
Optional NMS is ONNX's own NonMaxSuppression op appended to the graph (see ``graph.append_nms``).

Every export is checked against PyTorch on a real image: the maximum absolute difference of
the (B, N, 5+nc) outputs, boxes in input-size units (see ``parity``), is printed, and above
``FP32_TOLERANCE`` an FP32 export raises :class:`ExportParityError`.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from yololab.atomic import atomic_write, atomic_write_path, check_target, refuse_output_is_input
from yololab.deploy.exporting.parity import Parity, compare_outputs
from yololab.deploy.exporting.samples import sample_batch
from yololab.data.imaging.pixels import checkpoint_pixels
from yololab.deploy.runtime import metadata as md
from yololab.deploy.runtime.graph import RAW_OUTPUT, DecodedDetector, append_nms
from yololab.errors import ConfigError, EnvError
from yololab.models.detector import Detector

LOG = logging.getLogger("yololab")
FORMATS = {"onnx": ".onnx", "openvino": "_openvino_model", "torchscript": ".torchscript"}
FP32_TOLERANCE = 1e-3
OPSET = 17


class ExportParityError(EnvError, RuntimeError):
    """The exported model's outputs differ from PyTorch's by more than the tolerance."""


def _as_model(model_or_weights: Detector | str | os.PathLike,
              in_channels: int | None = None) -> tuple[Detector, str]:
    """A fused eval-mode copy (the caller's model is never modified) and a file stem; ``in_channels``
    other than the model's adapts its stem (see :func:`yololab.models.channels.adapt_input_channels`)."""
    from yololab.models.channels import adapt_input_channels

    if isinstance(model_or_weights, Detector):
        model = copy.deepcopy(model_or_weights).cpu().float().eval()
        if in_channels is not None:
            adapt_input_channels(model, in_channels)
        return model.fuse(), model_or_weights.spec.model
    from yololab.models.checkpoints import load_model

    path = Path(model_or_weights)
    return load_model(path, in_channels=in_channels).float().eval().fuse(), path.stem


def _hw(imgsz: int | tuple[int, int] | list[int], stride: int) -> tuple[int, int]:
    hw = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[-1]))
    if hw[0] % stride or hw[1] % stride:
        raise ValueError(f"imgsz {hw[0]}x{hw[1]} is not a multiple of the model stride {stride}")
    return hw


def _default_out(stem: str, fmt: str, imgsz: tuple[int, int]) -> Path:
    return Path(f"{stem}_{imgsz[0]}{FORMATS[fmt]}" if imgsz[0] == imgsz[1] else
                f"{stem}_{imgsz[0]}x{imgsz[1]}{FORMATS[fmt]}")


def _written_files(out: Path, fmt: str) -> list[Path]:
    """Every file an export to ``out`` writes (OpenVINO: the .xml and the .bin beside it)."""
    if fmt != "openvino":
        return [out]
    xml = out if out.suffix == ".xml" else out / f"{out.name.removesuffix('_openvino_model')}.xml"
    return [out, xml, xml.with_suffix(".bin")]


def refuse_overwriting_inputs(out: Path, fmt: str, inputs: dict[str, str | os.PathLike | None]) -> None:
    """Raise :class:`~yololab.atomic.UnsafePathError` when a file the export writes is one of its inputs
    (``--weights w.pt --out w.pt``, or the same file by another path or link), before anything is written."""
    for target in _written_files(out, fmt):
        refuse_output_is_input(target, inputs)


def export_onnx(wrapper: DecodedDetector, images: torch.Tensor, path: Path, meta: dict[str, Any],
                dynamic: bool, half: bool, nms: dict[str, float] | None, opset: int = OPSET) -> Path:
    """TorchScript-based ``torch.onnx.export`` (no onnxscript needed), onnxslim, optional NMS."""
    import onnx
    import onnxslim

    axes = {"images": {0: "batch", 2: "height", 3: "width"}, RAW_OUTPUT: {0: "batch", 1: "anchors"}}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer / deprecation chatter
        raw_path = Path(tmp) / "raw.onnx"
        torch.onnx.export(wrapper, (images,), str(raw_path), dynamo=False, opset_version=opset,
                          input_names=["images"], output_names=[RAW_OUTPUT],
                          dynamic_axes=axes if dynamic else None, do_constant_folding=True)
        proto = onnx.load(str(raw_path))
    proto = onnxslim.slim(proto)
    if half:
        proto = to_float16(proto)
    if nms:
        proto = append_nms(proto, nms["conf"], nms["iou"], int(nms["max_det"]))
    del proto.metadata_props[:]
    for key, value in {md.KEY: md.dumps(meta), "stride": str(meta["stride"]),
                       "names": str(dict(enumerate(meta["names"])))}.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name, proto.producer_version = "yololab", meta["yololab_version"]
    onnx.checker.check_model(proto)
    atomic_write(path, lambda handle: handle.write(proto.SerializeToString()))
    return path


def to_float16(proto: Any) -> Any:
    """FP16 weights and compute, float32 input/output (casts at the edges), via onnxconverter-common."""
    try:
        from onnxconverter_common import float16
    except ImportError as err:
        raise ImportError("half=True for ONNX needs onnxconverter-common "
                          "(pip install 'onnxconverter-common>=1.14')") from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Stale FP32 shape-inference records would contradict the converted types (ORT then
        # rejects the Resize casts): drop them, the converter and ORT infer them again.
        del proto.graph.value_info[:]
        return float16.convert_float_to_float16(proto, keep_io_types=True)


def export_openvino(onnx_path: Path, out: Path, meta: dict[str, Any], half: bool, model: Any = None) -> Path:
    """ONNX -> OpenVINO IR: ``out`` is an .xml path or a folder (``<name>_openvino_model/<name>.xml``),
    with the .bin beside it; FP16-compressed weights only if ``half``. ``model``: an already
    converted (e.g. INT8-quantized) OpenVINO model to save instead of converting ``onnx_path``."""
    import openvino as ov

    model = model if model is not None else ov.convert_model(str(onnx_path))
    model.set_rt_info(md.dumps(meta), [md.KEY])
    xml = out if out.suffix == ".xml" else out / f"{out.name.removesuffix('_openvino_model')}.xml"
    weights = check_target(xml.with_suffix(".bin"), xml.parent)

    def save(tmp_xml: Path) -> None:  # the .bin is named after the .xml: rename both
        tmp_bin = tmp_xml.with_suffix(".bin")
        try:
            ov.save_model(model, str(tmp_xml), compress_to_fp16=half)
            os.replace(tmp_bin, weights)
        except BaseException as err:  # a full disk: no temporary .bin left behind (the .xml is atomic_write's)
            tmp_bin.unlink(missing_ok=True)
            if isinstance(err, (OSError, KeyboardInterrupt, SystemExit)):
                raise
            reason = " ".join(str(err).split())[-300:]
            raise EnvError(f"OpenVINO could not save {xml} and its .bin ({reason}); nothing was written there. "
                           f"Free space or fix the permissions, then run the command again") from None

    atomic_write_path(xml, save, xml.parent)
    return xml


def export_torchscript(wrapper: DecodedDetector, images: torch.Tensor, path: Path,
                       meta: dict[str, Any]) -> Path:
    """``torch.jit.trace`` of the decoding wrapper, frozen (weights inlined: faster on CPU),
    metadata in ``config.txt`` as upstream does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.freeze(torch.jit.trace(wrapper, images, check_trace=False).eval())
        atomic_write(path, lambda handle: torch.jit.save(traced, handle, _extra_files={"config.txt": md.dumps(meta)}))
    return path


def export_model(model_or_weights: Detector | str | os.PathLike, fmt: str = "onnx",
                 imgsz: int | tuple[int, int] = 640, batch: int = 1, dynamic: bool = True,
                 half: bool = False, nms: bool = False, out: str | os.PathLike | None = None, *,
                 conf: float = 0.25, iou: float = 0.45, max_det: int = 300, opset: int = OPSET,
                 check: bool = True, sample: str | os.PathLike | None = None, int8: bool = False,
                 data: str | os.PathLike | None = None, calib_images: int = 300,
                 calib_method: str = "percentile", int8_weights: str = "s8-7bit",
                 in_channels: int | None = None) -> Path:
    """Export the fused model with in-graph decoding; returns the written file (.onnx, .xml, .torchscript).

    ``dynamic`` (the default) makes batch, height and width free (ONNX/OpenVINO; a trace is
    shape-generic anyway), so ``validate`` scores the export with the .pt's rectangular batches and
    gets the .pt's metrics. ``dynamic=False`` fixes the input to ``batch`` x C x ``imgsz`` (C: the model's
    ``in_channels``) (runtimes
    and latency benchmarks that want fixed shapes; OpenVINO runs faster on them); ``validate``
    then scores it with square letterboxed batches instead, a little lower than rect batches.
    ``half`` stores FP16 weights/compute (ONNX via onnxconverter-common with float32 input/output,
    OpenVINO FP16-compressed weights, TorchScript traced in half); the check then only reports. ``nms`` (ONNX/OpenVINO) appends ONNX NonMaxSuppression with ``conf``, ``iou`` and
    ``max_det`` baked in, adding a ``detections`` (K, 7) output after ``output0``.
    ``check`` compares the export with PyTorch on the image file ``sample`` (default: the synthetic
    sample image, ``samples.synthetic_image``).
    ``int8`` quantizes after export, calibrating on ``calib_images`` training images of the data YAML
    ``data``: ONNX Runtime static quantization (QDQ) for ONNX (``yololab.deploy.exporting.quantize``), NNCF for
    OpenVINO (``yololab.deploy.exporting.quantize_openvino``); the check then only reports.
    ``in_channels`` (the data's channel count) other than the model's adapts its stem by timm's rule
    first (logged); None exports the model's own.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if nms and fmt == "torchscript":
        raise ValueError("nms=True needs an ONNX graph (fmt='onnx' or 'openvino'); TorchScript "
                         "exports decode only, run NMS with yololab.eval.nms afterwards")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if int8 and (fmt not in ("onnx", "openvino") or half or nms):
        raise ValueError("int8=True quantizes the FP32 graph (ONNX Runtime for fmt='onnx', NNCF for "
                         "fmt='openvino'): use one of those formats with half=False and nms=False")
    if int8 and data is None:
        raise ValueError("int8=True needs data= (a data YAML: its training images calibrate the INT8 ranges)")
    model, stem = _as_model(model_or_weights, in_channels)
    hw = _hw(imgsz, model.stride)
    nms_cfg = {"conf": float(conf), "iou": float(iou), "max_det": int(max_det)} if nms else None
    meta = md.build_metadata(model, hw, batch, dynamic, half, nms_cfg, fmt)
    pixels = None if isinstance(model_or_weights, Detector) else checkpoint_pixels(model_or_weights)
    if pixels is not None and not pixels.is_default:  # predict/serve on the export decode and normalise the same
        meta["pixels"] = pixels.to_dict()
    out = Path(out) if out is not None else _default_out(f"{stem}_int8" if int8 else stem, fmt, hw)
    refuse_overwriting_inputs(out, fmt, {"--weights": None if isinstance(model_or_weights, Detector) else
                                         model_or_weights, "--sample": sample, "--data": data})
    images = torch.from_numpy(sample_batch(hw, batch, model.stride, sample, model.in_channels))
    wrapper = DecodedDetector(model).eval()

    if fmt != "openvino" and out.is_dir():
        raise ConfigError(f"--out {out} is a folder: give the {fmt} file to write, e.g. "
                          f"{out / _default_out(stem, fmt, hw).name}")
    folder = out if fmt == "openvino" and out.suffix != ".xml" else out.parent
    try:  # before the export's work: a folder that cannot be made fails at once
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EnvError(f"cannot create the folder of --out {out}: {err.strerror or err}") from None
    if int8 and fmt == "openvino":
        path = export_openvino_int8(wrapper, images, out, meta, dynamic, opset, data, calib_images)
    elif int8:
        path = export_onnx_int8(wrapper, images, out, meta, dynamic, opset, data, calib_images, calib_method,
                                int8_weights)
    elif fmt == "onnx":
        path = export_onnx(wrapper, images, out, meta, dynamic, half, nms_cfg, opset)
    elif fmt == "openvino":
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = export_onnx(wrapper, images, Path(tmp) / "model.onnx", meta, dynamic, False,
                                    nms_cfg, opset)
            path = export_openvino(onnx_path, out, meta, half)
    else:
        # channels-last weights are kept by the trace: faster on CPU (see the README's latency table)
        traced_model = copy.deepcopy(wrapper).to(memory_format=torch.channels_last)
        traced_model = traced_model.half() if half else traced_model
        path = export_torchscript(traced_model, images.half() if half else images, out, meta)
    LOG.info("exported %s (%s, %dx%d, batch %s%s%s)", path, fmt, *hw, "dynamic" if dynamic else batch,
             ", fp16" if half else ", int8" if int8 else "", ", nms" if nms else "")
    if check:
        check_parity(wrapper, path, images, fmt, half, int8)
    return path


def export_onnx_int8(wrapper: DecodedDetector, images: torch.Tensor, out: Path, meta: dict[str, Any],
                     dynamic: bool, opset: int, data: str | os.PathLike | None, calib_images: int,
                     method: str, weights: str = "s8-7bit") -> Path:
    """FP32 ONNX (temporary) -> ONNX Runtime static INT8 (QDQ) at ``out``, calibrated at the
    export's size."""
    from yololab.deploy.exporting.quantize import quantize_onnx

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(wrapper, images, Path(tmp) / "fp32.onnx", meta, dynamic, False, None, opset)
        return quantize_onnx(fp32, out, data, calib_images=calib_images, imgsz=tuple(images.shape[2:]),
                             method=method, weights=weights)


def export_openvino_int8(wrapper: DecodedDetector, images: torch.Tensor, out: Path, meta: dict[str, Any],
                        dynamic: bool, opset: int, data: str | os.PathLike | None, calib_images: int) -> Path:
    """FP32 ONNX (temporary) -> OpenVINO -> NNCF INT8 -> IR at ``out``."""
    from yololab.deploy.exporting.quantize_openvino import quantize_openvino

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(wrapper, images, Path(tmp) / "model.onnx", meta, dynamic, False, None, opset)
        model, info = quantize_openvino(onnx_path, data, tuple(images.shape[2:]), int(meta.get("stride") or 32),
                                        calib_images)
        return export_openvino(onnx_path, out, {**meta, "int8": info}, False, model=model)


def check_parity(wrapper: DecodedDetector, path: Path, images: torch.Tensor, fmt: str,
                 half: bool, int8: bool = False) -> Parity:
    """Compare the exported file with PyTorch on ``images``; raises if FP32 and above 1e-3."""
    from yololab.deploy.runtime.backends import Backend

    with torch.inference_mode():
        ref = wrapper(images.float()).numpy()
    backend = Backend(path, kind={"onnx": "onnxruntime"}.get(fmt, fmt))
    parity = compare_outputs(backend.infer(images.numpy()), ref, tuple(images.shape[2:]))
    print(f"{fmt} export {path}: {parity}{' [fp16]' if half else ' [int8]' if int8 else ''}")
    if not (half or int8) and parity.max_abs > FP32_TOLERANCE:
        raise ExportParityError(f"{path}: outputs differ from PyTorch: {parity} > {FP32_TOLERANCE} in FP32")
    return parity
