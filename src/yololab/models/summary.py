"""Model summary: a layer table, parameter counts by part, and GFLOPs."""

from __future__ import annotations

from torch import nn

from yololab.models.flops import count_gflops
from yololab.models.detector import Detector


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_table(model: Detector) -> list[tuple[str, str, int]]:
    """(name, type, parameters) for each part's direct children."""
    rows = []
    for part in ("backbone", "adapters", "neck", "head"):
        for name, child in getattr(model, part).named_children():
            if _params(child) or part != "neck":
                rows.append((f"{part}.{name}", type(child).__name__, _params(child)))
    return rows


def summarize(model: Detector, image_size: int = 640) -> dict:
    """Counts for ``yololab info`` (training-time params, fused params, fused GFLOPs)."""
    counts = model.parameter_counts()
    fused_params = None
    gflops = count_gflops(model, image_size, fuse=True)
    import copy

    fused = copy.deepcopy(model).fuse()
    fused_params = _params(fused)
    stem = model.spec.stem_adaptation
    return {"model": model.spec.model, "backbone": model.spec.backbone,
            "num_classes": model.spec.num_classes, "image_size": image_size,
            "in_channels": model.spec.in_channels, "stem_adaptation": stem.to_dict() if stem else None,
            **counts, "fused_params": fused_params, "gflops": round(gflops, 3)}


def stem_line(summary: dict) -> str:
    """How the model reads its input: channels, and how a pretrained stem was adapted."""
    channels = summary.get("in_channels", 3)
    stem = summary.get("stem_adaptation")
    if not stem:
        return f"input: {channels} channels (stem as built, no adaptation)"
    source = f" of {stem['source']}" if stem.get("source") else ""
    return (f"input: {channels} channels; stem{source} ({stem['layer']}) adapted from {stem['from_channels']} "
            f"to {stem['to_channels']} channels by {stem['rule']}")


def format_summary(model: Detector, summary: dict) -> str:
    lines = [f"{'layer':<28}{'type':<22}{'params':>12}"]
    lines += [f"{name:<28}{kind:<22}{count:>12,}" for name, kind, count in layer_table(model)]
    lines.append("")
    lines.append(f"{summary['model']} + {summary['backbone']} ({summary['num_classes']} classes): "
                 f"{summary['params']:,} parameters (backbone {summary['backbone_params']:,}, "
                 f"adapters {summary['adapter_params']:,}, neck {summary['neck_params']:,}, "
                 f"head {summary['head_params']:,}); fused {summary['fused_params']:,}; "
                 f"{summary['gflops']:.2f} GFLOPs at {summary['image_size']} (fused, 2 x multiply-adds)")
    lines.append(stem_line(summary))
    return "\n".join(lines)
