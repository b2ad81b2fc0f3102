"""Import upstream YOLOv5 (v6.0-v7.0) and YOLOv7 checkpoints into yololab detectors.

The pickled upstream model is read with the restricted unpickler (no upstream code, nothing
executed). Its architecture is identified from the YAML stored in it, the matching yololab
model is built, and weights are mapped layer by layer: upstream's numbered layers that hold
parameters, in order, pair with yololab's modules of the same kind in registration order,
and every pair must agree key for key and shape for shape.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from yololab.heads import DetectHead
from yololab.layers import C3, SPPCSPC, SPPF, Conv, RepConv
from yololab.models.build import build_model
from yololab.models.channels import adapt_input_channels
from yololab.models.detector import Detector
from yololab.models.safe_pickle import ModuleStub, safe_torch_load, stub_state_dict
from yololab.models.zoo import MODEL_VARIANTS
from yololab.errors import CheckpointError

LOG = logging.getLogger("yololab")

# yololab modules that correspond to exactly one upstream layer.
UPSTREAM_LAYER_TYPES = (Conv, C3, SPPF, SPPCSPC, RepConv, DetectHead)
# Buffers that are derived, not learned (set from the checkpoint's anchors instead).
_DERIVED_KEYS = ("anchors", "anchor_grid", "strides", "num_batches_tracked")


class UpstreamCheckpointError(CheckpointError):
    """The file is an upstream checkpoint that yololab cannot map (named in the message)."""


def upstream_layers(module: nn.Module) -> list[nn.Module]:
    """yololab modules in upstream layer order (registration order, not descending into layers)."""
    found: list[nn.Module] = []
    for child in module.children():
        if isinstance(child, UPSTREAM_LAYER_TYPES):
            found.append(child)
        else:
            found.extend(upstream_layers(child))
    return found


def identify_variant(yaml_cfg: dict, path: str | Path) -> str:
    """Which zoo model an upstream YAML describes."""
    layers = list(yaml_cfg.get("backbone", [])) + list(yaml_cfg.get("head", []))
    modules = {str(layer[2]) for layer in layers}
    if "IDetect" in modules:
        first_conv = layers[0][3][0]
        by_stem = {32: "yolov7-tiny" if len(layers) < 90 else "yolov7", 40: "yolov7x"}
        if first_conv in by_stem:
            return by_stem[first_conv]
    elif "Detect" in modules and "C3" in modules and "SPPF" in modules:
        d, w = yaml_cfg.get("depth_multiple"), yaml_cfg.get("width_multiple")
        for variant in MODEL_VARIANTS.values():
            if variant.family == "yolov5" and (variant.depth, variant.width) == (d, w):
                return variant.name
    raise UpstreamCheckpointError(
        f"{path}: unsupported upstream architecture (modules {sorted(modules)}, depth "
        f"{yaml_cfg.get('depth_multiple')}, width {yaml_cfg.get('width_multiple')}); yololab imports "
        f"YOLOv5 v6.0-v7.0 n/s/m/l/x (C3 + SPPF) and YOLOv7 tiny/base/x training checkpoints")


def _names(stub: ModuleStub, nc: int) -> list[str]:
    names = stub.__dict__.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not names or len(names) != nc:
        names = [f"class{i}" for i in range(nc)]
    return [str(n) for n in names]


def load_upstream_checkpoint(path: str | Path, checkpoint: dict | None = None, in_channels: int = 3) -> Detector:
    """Build the yololab twin of an upstream .pt and copy its weights (float32); ``in_channels`` other
    than 3 adapts its RGB stem by timm's rule (:func:`yololab.models.channels.adapt_input_channels`)."""
    ckpt = checkpoint if checkpoint is not None else safe_torch_load(str(path))
    stub = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if not isinstance(stub, ModuleStub) or not isinstance(stub.__dict__.get("yaml"), dict):
        raise UpstreamCheckpointError(f"{path}: no upstream model with a 'yaml' found (keys: "
                                      f"{list(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__})")
    yaml_cfg = stub.yaml
    name = identify_variant(yaml_cfg, path)
    sequence = stub._modules["model"]
    layers = [(int(k), v) for k, v in sequence._modules.items()]
    detect = layers[-1][1]
    nc = int(yaml_cfg.get("nc", detect.__dict__.get("nc", 80)))
    strides = stub.__dict__.get("stride")
    strides = torch.as_tensor(strides if strides is not None else detect.stride).float().view(-1, 1, 1)
    anchors = (detect._buffers["anchors"].float() * strides).view(len(strides), -1).tolist()
    model = build_model(name, num_classes=nc, names=_names(stub, nc), anchors=anchors)

    targets = upstream_layers(model)
    sources = [(i, stub_state_dict(layer)) for i, layer in layers]
    sources = [(i, sd) for i, sd in sources if any(not k.endswith(_DERIVED_KEYS) for k in sd)]
    if len(sources) != len(targets):
        raise UpstreamCheckpointError(f"{path}: {len(sources)} upstream layers with weights, yololab's "
                                      f"{name} has {len(targets)}; is this a fused/deploy checkpoint?")
    for (index, source), target in zip(sources, targets):
        wanted = {k: v for k, v in target.state_dict().items() if not k.endswith(_DERIVED_KEYS)}
        given = {k: v for k, v in source.items() if not k.endswith(_DERIVED_KEYS)}
        if wanted.keys() != given.keys() or any(wanted[k].shape != given[k].shape for k in wanted):
            raise UpstreamCheckpointError(
                f"{path}: upstream layer {index} ({sequence._modules[str(index)].class_name}) does not "
                f"match yololab's {type(target).__name__}: keys {sorted(given)[:4]}... vs {sorted(wanted)[:4]}...")
        target.load_state_dict({k: v.float() for k, v in given.items()}, strict=False)
    LOG.info("imported upstream %s (%d classes) from %s", name, nc, path)
    return adapt_input_channels(model, in_channels, str(path)).eval()
