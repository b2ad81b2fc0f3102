"""One inference interface over PyTorch, ONNX Runtime, OpenVINO and TorchScript files.

``Backend(path)`` picks the implementation from the file suffix (``kind`` overrides it, e.g.
``kind="openvino"`` runs an ``.onnx`` file with OpenVINO). ``infer`` takes a float (B, C, H, W)
array in [0, 1] (C: ``in_channels``, read from the model: 3 for RGB) and returns the decoded
(B, N, 5+nc) float32 array.

``device`` is a ``--device`` string read by :func:`yololab.device.parse_device`; the commands and
:class:`~yololab.deploy.runtime.pipeline.Predictor` default to 'auto' (``yololab.device.DEFAULT_DEVICE``).
``Backend`` itself keeps the CPU unless asked: the comparison's CPU latency cells and ``yololab val``
of an export open it without a device and must not move to a GPU.
PyTorch runs on CUDA; ONNX Runtime only through its CUDAExecutionProvider (the onnxruntime-gpu
package); OpenVINO (whose GPU plugin is for Intel GPUs) and TorchScript (traced on the CPU) run on
the CPU. When a backend cannot use the CUDA device asked for: 'auto' logs a one-line notice and runs
on the CPU; an explicit GPU ('0', 'cuda:1') is a :class:`UserError`, so a forced choice is never
silently ignored.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from yololab.deploy.runtime import metadata as md
from yololab.deploy.runtime.kinds import BACKEND_KINDS
from yololab.device import parse_device, select_device
from yololab.errors import CheckpointError, UserError
from yololab.hardware import cpu_name, cuda_name

LOG = logging.getLogger("yololab")
KINDS = BACKEND_KINDS
_SUFFIX_KIND = {".pt": "torch", ".pth": "torch", ".onnx": "onnxruntime", ".xml": "openvino",
                ".torchscript": "torchscript"}


# The export format each backend runs, and which backends can run a file of each kind
# (an .onnx also runs on OpenVINO; an IR in bf16 too).
EXPORT_FORMAT = {"onnxruntime": "onnx", "openvino": "openvino", "openvino-bf16": "openvino",
                 "torchscript": "torchscript"}
_RUNS = {"torch": {"torch"}, "onnxruntime": {"onnxruntime", "openvino", "openvino-bf16"},
         "openvino": {"openvino", "openvino-bf16"}, "torchscript": {"torchscript"}}


def check_backend_fits(path: str | os.PathLike, kind: str) -> None:
    """Raise a clear ValueError when backend ``kind`` cannot run the file ``path``."""
    file_kind = backend_kind(path)
    if kind in _RUNS[file_kind]:
        return
    hint = (f"export it first: yololab export --weights {path} --format {EXPORT_FORMAT[kind]}"
            if file_kind == "torch" else f"pass the .pt checkpoint or a {kind} file")
    what = {"torch": "a PyTorch checkpoint", "onnxruntime": "an ONNX file", "openvino": "an OpenVINO IR",
            "torchscript": "a TorchScript file"}[file_kind]
    raise ValueError(f"backend {kind} cannot run {Path(path).name} ({what}); {hint}")


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``threads`` inside the block and restored after it
    (PyTorch has only the process-wide setting; a backend must not change it for its caller)."""
    import torch

    before = torch.get_num_threads()
    if not threads or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def inference_device(device: str | None) -> str:
    """'cpu' or 'cuda:N' for a ``--device`` string (see :mod:`yololab.device`; None = 'auto').

    Inference runs in one process on one device, so a list of GPUs ('0,1') is refused."""
    try:
        gpus = parse_device(device).gpus
        if len(gpus) <= 1:
            return str(select_device(device))
    except ValueError as err:
        raise UserError(str(err)) from None
    raise UserError(f"--device {device!r}: predict, bench and serve run on one device; pick one, e.g. "
                    f"--device {gpus[0]}")


def _forced(device: str | None) -> bool:
    """Whether ``--device`` named a device (anything but 'auto'/None)."""
    return not parse_device(device).auto


def backend_kind(path: str | os.PathLike) -> str:
    """The backend a file runs on by default, from its suffix (an OpenVINO folder counts as .xml)."""
    path = Path(path)
    if path.is_dir() and any(path.glob("*.xml")):
        return "openvino"
    kind = _SUFFIX_KIND.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot tell the backend of {path}: expected one of "
                         f"{', '.join(sorted(_SUFFIX_KIND))} (or an OpenVINO model folder)")
    return kind


def _load_errors_named(init: Any, kind: str) -> Any:
    """``init`` with a runtime's own failure to read the model file (ONNX Runtime's InvalidProtobuf,
    OpenVINO's or TorchScript's RuntimeError) as a :class:`CheckpointError` naming the file."""
    @functools.wraps(init)
    def checked(self: Backend, path: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, path, *args, **kwargs)
        except (ValueError, OSError, ImportError):  # yololab's own checks, a missing file or package
            raise
        except Exception as err:  # noqa: BLE001 - each runtime raises its own types for a bad file
            reason = " ".join(str(err).split())[:300] or type(err).__name__
            raise CheckpointError(f"{path}: {kind} could not load this model ({reason}); is it a complete "
                                  f"export of the right kind?") from None
    return checked


class Backend:
    """Base class and factory: ``Backend(path, threads=None, kind=None)`` returns the subclass."""

    kind: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[Backend]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Backend._registry[cls.kind] = cls
        if "__init__" in cls.__dict__:
            cls.__init__ = _load_errors_named(cls.__dict__["__init__"], cls.kind)  # type: ignore[method-assign]

    def __new__(cls, path: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                device: str | None = "cpu"):
        impl = cls
        if cls is Backend:
            kind = kind or backend_kind(path)
            if kind not in cls._registry:
                raise ValueError(f"unknown backend {kind!r}; expected one of {', '.join(KINDS)}")
            if Path(path).exists():  # a missing file gets __init__'s FileNotFoundError
                check_backend_fits(path, kind)
            impl = cls._registry[kind]
        return super().__new__(impl)

    def __init__(self, path: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                 device: str | None = "cpu") -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"model file not found: {self.path}")
        self.threads = threads
        self.meta: dict[str, Any] = {}
        self.input_dtype: type = np.float32
        self.static_batch: int | None = None
        self.static_hw: tuple[int, int] | None = None
        self._channels: int | None = None  # fixed by the graph's input shape, where it says
        self.device = "cpu"  # what runs the model: 'cpu' or 'cuda:N' (set by the subclass)

    # -- what callers use ---------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.meta.get("names") or [])

    @property
    def stride(self) -> int:
        return int(self.meta.get("stride") or 32)

    @property
    def in_channels(self) -> int:
        """Image channels the model reads: the graph's input shape, else the metadata, else 3 (RGB)."""
        if self._channels:
            return self._channels
        return int(self.meta.get("in_channels") or (self.meta.get("spec") or {}).get("in_channels") or 3)

    @property
    def has_nms(self) -> bool:
        return bool(self.meta.get("nms"))

    def info(self) -> dict[str, Any]:
        """Plain-data description (used by ``yololab serve``'s /info)."""
        return {"backend": self.kind, "path": str(self.path), "names": self.names,
                "num_classes": len(self.names), "stride": self.stride, "in_channels": self.in_channels,
                "imgsz": list(self.static_hw) if self.static_hw else None,
                "batch": self.static_batch, "half": bool(self.meta.get("half")),
                "nms_in_graph": self.meta.get("nms"), "threads": self.threads, "device": self.device,
                "device_name": self.device_name()}

    def device_name(self) -> str:
        """The CPU's or the GPU's name, as timing and bench report it."""
        if self.device == "cpu":
            return cpu_name()
        return cuda_name(int(self.device.partition(":")[2] or 0))

    def infer(self, images: np.ndarray) -> np.ndarray:
        """(B, C, H, W) in [0, 1] -> float32 (B, N, 5+nc); splits/pads to a fixed export batch."""
        return self._batched(images, 0)

    def infer_nms(self, images: np.ndarray) -> list[np.ndarray]:
        """In-graph NMS results, one (n, 6) x1, y1, x2, y2, score, cls array per image (network
        pixels, by descending score). Only for files exported with ``nms=True``."""
        if not self.has_nms:
            raise ValueError(f"{self.path} has no NMS in its graph (export it with nms=True)")
        out, start = [[] for _ in range(len(images))], 0
        for chunk in self._chunks(images):
            dets = self._run(self._pad(chunk))[1]
            for row in dets:
                b = int(row[0])
                if b < len(chunk):
                    out[start + b].append(row[1:])
            start += len(chunk)
        result = []
        for rows in out:
            d = np.asarray(rows, np.float32).reshape(-1, 6)
            result.append(d[np.argsort(-d[:, 4], kind="stable")])
        return result

    def check_input(self, images: np.ndarray) -> None:
        c = self.in_channels
        if images.ndim != 4 or images.shape[1] != c:
            raise ValueError(f"{self.path.name} expects images shaped (batch, {c}, height, width), got "
                             f"{images.shape}")
        if self.static_hw and tuple(images.shape[2:]) != self.static_hw:
            raise ValueError(f"{self.path.name} was exported for {self.static_hw[0]}x{self.static_hw[1]} "
                             f"inputs, got {images.shape[2]}x{images.shape[3]}; use that --imgsz or "
                             f"re-export with dynamic=True")

    # -- implementation helpers ---------------------------------------------------------------
    def _pick_device(self, device: str | None, cuda: bool, why: str = "") -> str:
        """The device this backend runs on for ``--device`` ``device``: CUDA when asked and ``cuda``
        (it can run there), else the CPU, with a notice ('auto') or a UserError (explicit GPU)."""
        wanted = inference_device(device)
        if wanted == "cpu" or cuda:
            return wanted
        if _forced(device):
            raise UserError(f"--device {device!r}: backend {self.kind} {why}; use --device cpu (or auto)")
        LOG.info("device: auto chose %s, but backend %s %s: running on the CPU", wanted, self.kind, why)
        return "cpu"

    def _chunks(self, images: np.ndarray):
        self.check_input(images)
        step = self.static_batch or len(images)
        for i in range(0, len(images), step):
            yield images[i:i + step]

    def _pad(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.ascontiguousarray(chunk, dtype=self.input_dtype)
        if self.static_batch and len(chunk) < self.static_batch:
            pad = np.zeros((self.static_batch - len(chunk), *chunk.shape[1:]), chunk.dtype)
            chunk = np.concatenate((chunk, pad))
        return chunk

    def _batched(self, images: np.ndarray, output: int) -> np.ndarray:
        outs = [self._run(self._pad(c))[output][:len(c)] for c in self._chunks(images)]
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        return out.astype(np.float32, copy=False)

    def _set_static(self, shape: list[Any]) -> None:
        """Record a fixed batch/height/width from an input shape (ints; anything else is dynamic)."""
        ints = [d if isinstance(d, int) and d > 0 else None for d in shape]
        self.static_batch = ints[0]
        self._channels = ints[1]
        self.static_hw = (ints[2], ints[3]) if ints[2] and ints[3] else None

    def _run(self, images: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError


class TorchBackend(Backend):
    """A .pt checkpoint (yololab or upstream) run eagerly, fused, FP32, on the CPU or a CUDA device
    (inputs go there, outputs come back to the CPU)."""

    kind = "torch"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                 device: str | None = "cpu") -> None:
        super().__init__(path, threads)
        import torch

        from yololab.deploy.runtime.graph import DecodedDetector
        from yololab.models.checkpoints import load_model

        self.device = self._pick_device(device, cuda=True)
        model = load_model(self.path).fuse().channels_last().eval()
        self.model = DecodedDetector(model).to(self.device).eval()
        self.meta = {"names": list(model.names) or [str(i) for i in range(model.spec.num_classes)],
                     "stride": model.stride, "spec": model.spec.to_dict(), "nms": None}
        self.threads = threads or torch.get_num_threads()
        self._set_threads = threads

    def _run(self, images: np.ndarray) -> list[np.ndarray]:
        import torch

        with torch_threads(self._set_threads), torch.inference_mode():
            return [self.model(torch.from_numpy(images).to(self.device)).cpu().numpy()]


class TorchScriptBackend(Backend):
    """A traced .torchscript file written by ``export_model(fmt='torchscript')``."""

    kind = "torchscript"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                 device: str | None = "cpu") -> None:
        super().__init__(path, threads)
        import torch

        self.device = self._pick_device(device, cuda=False, why="runs on the CPU only (traced there)")
        extra = {"config.txt": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still works
            self.model = torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra).eval()
        self.meta = md.loads(extra["config.txt"])
        if self.meta.get("half"):
            self.input_dtype = np.float16
        if not self.meta.get("dynamic", True):
            self.static_batch = self.meta.get("batch")
            self.static_hw = tuple(self.meta["imgsz"]) if self.meta.get("imgsz") else None
        self.threads = threads or torch.get_num_threads()
        self._set_threads = threads

    def _run(self, images: np.ndarray) -> list[np.ndarray]:
        import torch

        with torch_threads(self._set_threads), torch.inference_mode():
            return [self.model(torch.from_numpy(images)).numpy()]


class OnnxRuntimeBackend(Backend):
    """An .onnx file on ONNX Runtime (any ONNX with a (B, N, 5+nc) first output): its CPU provider,
    or its CUDAExecutionProvider for a CUDA device when this onnxruntime has it (onnxruntime-gpu)."""

    kind = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                 device: str | None = "cpu") -> None:
        super().__init__(path, threads)
        import onnxruntime as ort

        cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        self.device = self._pick_device(device, cuda, why="has no CUDAExecutionProvider in this onnxruntime "
                                                          "(install onnxruntime-gpu)")

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = threads
        providers: list[Any] = ["CPUExecutionProvider"]
        if self.device != "cpu":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(self.device.partition(":")[2])}))
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        if self.device != "cpu" and "CUDAExecutionProvider" not in self.session.get_providers():
            # ONNX Runtime falls back to the CPU on its own when the CUDA libraries fail to load
            if _forced(device):
                raise UserError(f"--device {device!r}: ONNX Runtime could not start its CUDAExecutionProvider "
                                f"(see its log above); use --device cpu (or auto)")
            LOG.info("device: ONNX Runtime could not start its CUDAExecutionProvider: running on the CPU")
            self.device = "cpu"
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._set_static(inp.shape)
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = md.loads(props.get(md.KEY)) or {
            "names": md.names_from_upstream(props.get("names")), "stride": int(props.get("stride", 32))}
        if isinstance(self.meta.get("int8"), dict):
            from yololab.deploy.runtime.saturation import saturation_warning

            warning = saturation_warning(self.meta["int8"])
            if warning:
                LOG.warning("%s: %s", self.path.name, warning)

    def _run(self, images: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: images})


class OpenVinoBackend(Backend):
    """An OpenVINO IR (.xml + .bin, or its folder), or an .onnx file read by OpenVINO, on CPU.

    The precision hint is f32, so outputs match the export; OpenVINO's own CPU default is bf16
    where the CPU has it (see :class:`OpenVinoBf16Backend`).
    """

    kind = "openvino"
    precision = "f32"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                 device: str | None = "cpu") -> None:
        super().__init__(path, threads)
        import openvino as ov

        self.device = self._pick_device(device, cuda=False, why="runs on the CPU only (OpenVINO's GPU "
                                                                "plugin is for Intel GPUs)")

        if self.path.is_dir():
            self.path = min(self.path.glob("*.xml"))
        core = ov.Core()
        model = core.read_model(str(self.path))
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.meta = self._read_meta(model)
        port = model.inputs[0]
        shape = port.get_partial_shape()
        self._set_static([d.get_length() if d.is_static else None for d in shape])
        self.input_dtype = np.float16 if port.get_element_type() == ov.Type.f16 else np.float32
        self.threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))

    @staticmethod
    def _read_meta(model: Any) -> dict[str, Any]:
        """yololab metadata (IR rt_info, or ONNX metadata seen through OpenVINO's ONNX frontend)."""
        def get(*path: str) -> str | None:
            return model.get_rt_info(list(path)).astype(str) if model.has_rt_info(list(path)) else None

        meta = md.loads(get(md.KEY) or get("framework", md.KEY))
        if not meta:  # e.g. upstream's ONNX export: names and stride only
            meta = {"names": md.names_from_upstream(get("framework", "names")),
                    "stride": int(get("framework", "stride") or 32)}
        return meta

    def _run(self, images: np.ndarray) -> list[np.ndarray]:
        self.request.infer({0: images})
        return [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]


class OpenVinoBf16Backend(OpenVinoBackend):
    """OpenVINO with bfloat16 inference (``--backend openvino-bf16``): the float parts of the model
    run in bf16 on CPUs with AMX or AVX512-BF16 (much faster than f32 there, see the README's
    latency table); about 3 significant digits, so outputs differ from FP32 slightly.
    On a CPU without bf16 support OpenVINO runs f32."""

    kind = "openvino-bf16"
    precision = "bf16"

    def info(self) -> dict[str, Any]:
        return {**super().info(), "precision": self.precision}


def load_backend(path: str | os.PathLike, threads: int | None = None, kind: str | None = None,
                 device: str | None = "cpu") -> Backend:
    """Same as ``Backend(path, threads, kind, device)``."""
    return Backend(path, threads=threads, kind=kind, device=device)
