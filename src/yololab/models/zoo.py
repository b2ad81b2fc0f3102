"""The model zoo: every family/scale with its own backbone, neck, head and anchors."""

from __future__ import annotations

from dataclasses import dataclass

ANCHORS_V5 = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326))
ANCHORS_V7 = ((12, 16, 19, 36, 40, 28), (36, 75, 76, 55, 72, 146), (142, 110, 192, 243, 459, 401))
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class ModelVariant:
    """One row of the zoo: the upstream model a name stands for."""

    name: str
    family: str            # 'yolov5' or 'yolov7'
    size: str              # scale letter used to scale swapped-in YOLO backbones (n/s/m/l/x)
    depth: float
    width: float
    act: str
    native_backbone: str
    anchors: tuple[tuple[int, ...], ...]
    upstream_config: str   # the upstream YAML this reproduces


MODEL_VARIANTS: dict[str, ModelVariant] = {
    v.name: v for v in (
        ModelVariant("yolov5n", "yolov5", "n", 0.33, 0.25, "silu", "cspdarknet", ANCHORS_V5, "yolov5n.yaml"),
        ModelVariant("yolov5s", "yolov5", "s", 0.33, 0.50, "silu", "cspdarknet", ANCHORS_V5, "yolov5s.yaml"),
        ModelVariant("yolov5m", "yolov5", "m", 0.67, 0.75, "silu", "cspdarknet", ANCHORS_V5, "yolov5m.yaml"),
        ModelVariant("yolov5l", "yolov5", "l", 1.00, 1.00, "silu", "cspdarknet", ANCHORS_V5, "yolov5l.yaml"),
        ModelVariant("yolov5x", "yolov5", "x", 1.33, 1.25, "silu", "cspdarknet", ANCHORS_V5, "yolov5x.yaml"),
        ModelVariant("yolov7-tiny", "yolov7", "s", 1.0, 1.0, "leaky", "elan", ANCHORS_V5,
                     "cfg/training/yolov7-tiny.yaml"),
        ModelVariant("yolov7", "yolov7", "l", 1.0, 1.0, "silu", "elan", ANCHORS_V7, "cfg/training/yolov7.yaml"),
        ModelVariant("yolov7x", "yolov7", "x", 1.0, 1.0, "silu", "elan", ANCHORS_V7, "cfg/training/yolov7x.yaml"),
    )
}


def get_variant(name: str) -> ModelVariant:
    key = name.lower().replace("_", "-")
    if key not in MODEL_VARIANTS:
        raise KeyError(f"unknown model {name!r}; valid models: {', '.join(MODEL_VARIANTS)}")
    return MODEL_VARIANTS[key]
