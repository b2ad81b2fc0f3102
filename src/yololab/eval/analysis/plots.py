"""Figures of the analysis (matplotlib's object API: ``Figure`` renders with Agg, no pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from yololab.atomic import atomic_write
from yololab.eval.analysis.confusion import ConfusionMatrix
from yololab.eval.analysis.curves import Curves
from yololab.eval.analysis.tide import ERROR_LABELS, ERROR_TYPES


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda handle: fig.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=150,
                                                  bbox_inches="tight"), path.parent)
    return path


def plot_confusion(cm: ConfusionMatrix, path: Path, normalise: bool = False) -> Path:
    """Heat map of the counts (or row-normalised rates); y = true class, x = predicted class."""
    data = cm.normalised() if normalise else cm.counts
    n = len(cm.labels)
    size = min(4 + 0.2 * n, 18)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.add_subplot()
    im = ax.imshow(data, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    font = 8 if n <= 30 else 5
    ax.set_xticks(ticks, cm.labels, rotation=90, fontsize=font)
    ax.set_yticks(ticks, cm.labels, fontsize=font)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalise else " (counts)"))
    if n <= 30:
        for (r, c), v in np.ndenumerate(data):
            if v:
                ax.text(c, r, f"{v:.2f}" if normalise else str(int(v)), ha="center", va="center", fontsize=6,
                        color="white" if v > 0.5 * data.max() else "black")
    return _save(fig, path)


def plot_pr(curves: Curves, path: Path) -> Path:
    """Per-class PR curves (thin; labelled when 20 or fewer) and their mean (thick) at IoU 0.5."""
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    few = len(curves.precision) <= 20
    for name, p in curves.precision.items():
        ax.plot(curves.recall, p, lw=1, color=None if few else "grey", alpha=1 if few else 0.4,
                label=f"{name} {curves.ap50[name]:.3f}" if few else None)
    ax.plot(curves.recall, curves.mean_precision, lw=3, color="blue", label=f"all classes {curves.map50:.3f} mAP@0.5")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01), title="Precision-recall (IoU 0.5)")
    ax.legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def plot_f1(curves: Curves, path: Path) -> Path:
    """Per-class F1 against confidence and the mean, with the best threshold marked."""
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    for f1 in curves.f1_conf.values():
        ax.plot(curves.conf, f1, lw=1, color="grey", alpha=0.4)
    best_conf, best_f1 = curves.best()
    ax.plot(curves.conf, curves.mean(curves.f1_conf), lw=3, color="blue",
            label=f"all classes {best_f1:.3f} at {best_conf:.3f}")
    ax.axvline(best_conf, color="red", ls="--", lw=1)
    ax.set(xlabel="Confidence", ylabel="F1", xlim=(0, 1), ylim=(0, 1.01), title="F1-confidence (IoU 0.5)")
    ax.legend(loc="lower left")
    return _save(fig, path)


def _dap(errors: Mapping[str, Any]) -> dict[str, float]:
    """The dAP dict of a :func:`tide_errors` result, or the dict itself."""
    d = errors.get("dap", errors)
    return {k: float(d.get(k, 0.0)) for k in ERROR_TYPES}


def plot_errors(errors: Mapping[str, Any], path: Path, title: str = "TIDE errors") -> Path:
    """Bar chart of the AP50 points each TIDE error type costs."""
    return plot_errors_side_by_side({title: errors}, path, title=title)


def plot_errors_side_by_side(errors: Mapping[str, Mapping[str, Any]], path: Path,
                             title: str = "TIDE errors by model") -> Path:
    """Grouped bars, one group per error type and one bar per model (``errors``: model -> result)."""
    daps = {model: _dap(e) for model, e in errors.items()}
    x = np.arange(len(ERROR_TYPES))
    width = 0.8 / max(len(daps), 1)
    fig = Figure(figsize=(max(9, 1.5 * len(ERROR_TYPES) * max(1, len(daps) / 2)), 4.5))
    ax = fig.add_subplot()
    for n, (model, d) in enumerate(daps.items()):
        bars = ax.bar(x + (n - (len(daps) - 1) / 2) * width, [d[k] for k in ERROR_TYPES], width, label=model)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, [ERROR_LABELS[k] for k in ERROR_TYPES])
    ax.set(ylabel="dAP50 (points)", title=title)
    ax.margins(y=0.15)  # room for the bar labels
    if len(daps) > 1:  # outside the axes, so that it hides no bar
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    return _save(fig, path)


def _mean_pr(curve: Curves | Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, float | None]:
    if isinstance(curve, Curves):
        return curve.recall, curve.mean_precision, curve.map50
    return np.asarray(curve["recall"]), np.asarray(curve["mean_precision"]), curve.get("map50")


def plot_pr_overlay(curves: Mapping[str, Curves | Mapping[str, Any]], path: Path,
                    title: str = "Precision-recall (IoU 0.5), mean over classes") -> Path:
    """Mean PR curves of several models in one plot.  Values: :class:`Curves` or the dict that
    ``analyze`` writes to ``pr_curve.json`` (keys ``recall``, ``mean_precision``, ``map50``)."""
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    for model, c in curves.items():
        r, p, m = _mean_pr(c)
        ax.plot(r, p, lw=2, label=model if m is None else f"{model} {m:.3f} mAP@0.5")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower left")
    return _save(fig, path)
