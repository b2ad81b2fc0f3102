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
    return {"model": model.spec.model, "backbone": model.spec.backbone,
            "num_classes": model.spec.num_classes, "image_size": image_size,
            **counts, "fused_params": fused_params, "gflops": round(gflops, 3)}


def format_summary(model: Detector, summary: dict) -> str:
    lines = [f"{'layer':<28}{'type':<22}{'params':>12}"]
    lines += [f"{name:<28}{kind:<22}{count:>12,}" for name, kind, count in layer_table(model)]
    lines.append("")
    lines.append(f"{summary['model']} + {summary['backbone']} ({summary['num_classes']} classes): "
                 f"{summary['params']:,} parameters (backbone {summary['backbone_params']:,}, "
                 f"adapters {summary['adapter_params']:,}, neck {summary['neck_params']:,}, "
                 f"head {summary['head_params']:,}); fused {summary['fused_params']:,}; "
                 f"{summary['gflops']:.2f} GFLOPs at {summary['image_size']} (fused, 2 x multiply-adds)")
    return "\n".join(lines)
