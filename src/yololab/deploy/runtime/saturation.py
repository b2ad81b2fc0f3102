"""Whether an ONNX Runtime INT8 file computes right on this CPU: the U8S8 saturation probe and warning.

Lives beside the backends (which warn when they load such a file) rather than in ``quantize``, so
that running a model never imports the exporter."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np


@lru_cache(maxsize=1)
def u8s8_saturates() -> bool:
    """Whether ONNX Runtime's U8S8 integer GEMM saturates on this CPU (x86 without VNNI: AVX2's
    VPMADDUBSW adds pairs of u8 x s8 products in saturating 16 bits).

    Probes ORT itself (a 255 x 127 MatMulInteger) rather than /proc/cpuinfo: ORT dispatches on
    CPUID, which emulators and VMs can report differently from the host's flags."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    k = 64
    weight = helper.make_tensor("b", TensorProto.INT8, [k, 1], np.full((k, 1), 127, np.int8).tobytes(), raw=True)
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "probe",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, k])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 1])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    y = session.run(None, {"a": np.full((1, k), 255, np.uint8)})[0]
    return int(y.item()) != 255 * 127 * k


def saturation_warning(int8: dict[str, Any]) -> str | None:
    """A warning when an ONNX Runtime INT8 export (its metadata's ``int8`` entry) computes wrong
    convolutions on this CPU: full-range INT8 weights (``s8``; also exports made before the scheme
    was recorded) on a CPU whose U8S8 kernels saturate. None when it is safe here."""
    if int8.get("backend") != "onnxruntime" or int8.get("weights", "s8") != "s8" or not u8s8_saturates():
        return None
    return ("its INT8 weights use the full 8-bit range, and ONNX Runtime's U8S8 kernels saturate on "
            "this CPU (x86 without VNNI, e.g. AVX2 only): its convolutions are wrong here and its mAP "
            "several points lower; re-export with --int8-weights s8-7bit (the default) or u8")
