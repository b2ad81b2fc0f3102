"""What gets exported: the fused detector with in-graph decoding, and an optional ONNX NMS tail."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from yololab.models.detector import Detector

RAW_OUTPUT = "output0"  # (B, N, 5+nc), as upstream's export names it
NMS_OUTPUT = "detections"  # (K, 7): batch index, x1, y1, x2, y2, score, class
CLASS_OFFSET = 7680.0  # per-class box offset for class-aware NMS (upstream's max_wh)


class DecodedDetector(nn.Module):
    """``images`` (B, 3, H, W) in [0, 1] -> (B, N, 5+nc): cx, cy, w, h (pixels), obj, class probs."""

    def __init__(self, model: Detector) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        model = self.model
        return model.decode(model.head(model.neck(model.adapters(model.backbone(images)))))


def append_nms(proto: onnx.ModelProto, conf: float, iou: float, max_det: int) -> onnx.ModelProto:
    """Append ONNX ``NonMaxSuppression`` after ``output0`` (kept as an output) giving ``detections``.

    Single-label, class-aware NMS like ``non_max_suppression(multi_label=False)``: score is
    max(obj * class prob), boxes are offset by class so classes never suppress each other,
    and at most ``max_det`` detections per image survive (score > conf, IoU > iou suppresses).
    """
    g = proto.graph
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    raw = RAW_OUTPUT
    if g.output[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        g.node.append(helper.make_node("Cast", [raw], ["nms_raw32"], to=TensorProto.FLOAT))
        raw = "nms_raw32"

    def const(name: str, value: np.ndarray) -> str:
        g.initializer.append(numpy_helper.from_array(value, f"nms_c_{name}"))
        return f"nms_c_{name}"

    i64 = lambda *v: np.array(v, np.int64)
    nodes = [
        ("Slice", [raw, const("s0", i64(0)), const("s2", i64(2)), const("ax", i64(2))], ["nms_xy"]),
        ("Slice", [raw, "nms_c_s2", const("s4", i64(4)), "nms_c_ax"], ["nms_wh"]),
        ("Slice", [raw, "nms_c_s4", const("s5", i64(5)), "nms_c_ax"], ["nms_obj"]),
        ("Slice", [raw, "nms_c_s5", const("end", i64(2**62)), "nms_c_ax"], ["nms_cls"]),
        ("Mul", ["nms_wh", const("half", np.array(0.5, np.float32))], ["nms_hwh"]),
        ("Sub", ["nms_xy", "nms_hwh"], ["nms_xy1"]),
        ("Add", ["nms_xy", "nms_hwh"], ["nms_xy2"]),
        ("Concat", ["nms_xy1", "nms_xy2"], ["nms_boxes"], {"axis": 2}),
        ("Mul", ["nms_cls", "nms_obj"], ["nms_scores_all"]),
        ("ReduceMax", ["nms_scores_all", const("cax", i64(2))] if opset >= 18 else ["nms_scores_all"],
         ["nms_score"], {"keepdims": 1} if opset >= 18 else {"keepdims": 1, "axes": [2]}),
        ("ArgMax", ["nms_scores_all"], ["nms_cls_id"], {"axis": 2, "keepdims": 1}),
        ("Cast", ["nms_cls_id"], ["nms_cls_f"], {"to": TensorProto.FLOAT}),
        ("Mul", ["nms_cls_f", const("off", np.array(CLASS_OFFSET, np.float32))], ["nms_shift"]),
        ("Add", ["nms_boxes", "nms_shift"], ["nms_boxes_off"]),
        ("Transpose", ["nms_score"], ["nms_score_t"], {"perm": [0, 2, 1]}),
        ("NonMaxSuppression", ["nms_boxes_off", "nms_score_t", const("max_det", i64(max_det)),
                               const("iou", np.array([iou], np.float32)),
                               const("conf", np.array([conf], np.float32))], ["nms_sel"]),
        ("Gather", ["nms_sel", const("bi", i64(0, 2))], ["nms_bi"], {"axis": 1}),
        ("GatherND", ["nms_boxes", "nms_bi"], ["nms_kbox"]),
        ("GatherND", ["nms_score", "nms_bi"], ["nms_kscore"]),
        ("GatherND", ["nms_cls_f", "nms_bi"], ["nms_kcls"]),
        ("Gather", ["nms_sel", const("b", np.array(0, np.int64))], ["nms_b"], {"axis": 1}),
        ("Cast", ["nms_b"], ["nms_bf"], {"to": TensorProto.FLOAT}),
        ("Unsqueeze", ["nms_bf", const("u1", i64(1))], ["nms_b2"]),
        ("Concat", ["nms_b2", "nms_kbox", "nms_kscore", "nms_kcls"], [NMS_OUTPUT], {"axis": 1}),
    ]
    for op, inputs, outputs, *attrs in nodes:
        g.node.append(helper.make_node(op, inputs, outputs, **(attrs[0] if attrs else {})))
    g.output.append(helper.make_tensor_value_info(NMS_OUTPUT, TensorProto.FLOAT, ["num_dets", 7]))
    return proto
