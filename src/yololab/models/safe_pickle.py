"""A restricted unpickler for upstream YOLOv5/YOLOv7 checkpoints.

Upstream checkpoints are pickled model objects. Loading them normally would import the
upstream code and run whatever callables the pickle names. This unpickler instead:
  * rebuilds tensors, storages and plain containers (the same set torch's weights_only allows),
  * turns every upstream or torch.nn module class into an inert ``ModuleStub`` that only
    records the state it is given,
  * refuses every other global (os.system, builtins.eval, subprocess.Popen, ...), so no
    pickled code can run.
"""

from __future__ import annotations

import pickle
import types
from typing import Any

import torch

from yololab.errors import CheckpointError

# Globals that rebuild data and nothing else.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("builtins", "set"): set, ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
}
_STORAGES = {"HalfStorage", "FloatStorage", "DoubleStorage", "LongStorage", "IntStorage",
             "BoolStorage", "ByteStorage", "CharStorage", "ShortStorage", "BFloat16Storage"}
# Module prefixes whose classes become inert stubs: upstream YOLO code and torch.nn layers.
_STUB_PREFIXES = ("models.", "utils.", "torch.nn.modules.", "pathlib", "argparse")


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The pickle references something other than tensors, containers and model layers."""


class ModuleStub:
    """Inert stand-in for a pickled class: keeps its constructor args and state, runs nothing."""

    _module = ""
    _name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> "ModuleStub":
        obj = object.__new__(cls)
        obj.__dict__["_stub_args"] = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_stub_state"] = state

    @property
    def class_name(self) -> str:
        return f"{self._module}.{self._name}"


_stub_classes: dict[tuple[str, str], type] = {}


def _stub_class(module: str, name: str) -> type:
    key = (module, name)
    if key not in _stub_classes:
        _stub_classes[key] = type(name, (ModuleStub,), {"_module": module, "_name": name})
    return _stub_classes[key]


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGES:
            return getattr(torch, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module.startswith(_STUB_PREFIXES) or module in ("models", "utils"):
            return _stub_class(module, name)
        raise UnsafeCheckpointError(
            f"refused global {module}.{name}: only tensors, containers and model layers may be "
            f"unpickled (the file may try to execute code)")


# torch.load(pickle_module=...) needs an object with an Unpickler (and load for legacy files).
safe_pickle_module = types.SimpleNamespace(
    __name__="yololab.safe_pickle", Unpickler=SafeUnpickler,
    load=lambda f, **kw: SafeUnpickler(f, **kw).load(),
)


def safe_torch_load(path: str) -> Any:
    """torch.load through the restricted unpickler (never imports upstream code)."""
    return torch.load(path, map_location="cpu", pickle_module=safe_pickle_module, weights_only=False)


def stub_state_dict(stub: ModuleStub, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a stub module tree into a state_dict (parameters and buffers)."""
    out: dict[str, torch.Tensor] = {}
    for key in ("_parameters", "_buffers"):
        for name, tensor in (stub.__dict__.get(key) or {}).items():
            if tensor is not None:
                out[prefix + name] = tensor.detach() if isinstance(tensor, torch.Tensor) else tensor
    for name, child in (stub.__dict__.get("_modules") or {}).items():
        if isinstance(child, ModuleStub):
            out.update(stub_state_dict(child, f"{prefix}{name}."))
    return out
