"""Comparison figures (PNG + SVG, matplotlib without pyplot state): accuracy vs cost with the
Pareto front, overlaid training curves, and a per-class AP heatmap."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from yololab.atomic import atomic_write
from yololab.experiments.results.columns import Column, column, spread, unreliable, value
from yololab.experiments.results.records import Row, SummaryRow

MAP_COLUMN = re.compile(r"(map50.?95|map_?0?\.5:0?\.95|map50-95)", re.IGNORECASE)


def save_figure(fig: Figure, stem: Path) -> dict[str, Path]:
    """The figure as stem.png and stem.svg, written through the confined writer."""
    paths = {}
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        atomic_write(path, lambda handle, ext=ext: fig.savefig(
            handle, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight",
            metadata={"Date": None} if ext == "svg" else None), stem.parent)
        paths[ext] = path
    return paths


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated when x is minimised and y maximised, sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def _front(rows: Sequence[Row], x: Column) -> tuple[list[Row], list[tuple[float, float]], list[bool], list[int]]:
    """(rows with both values, their (x, mAP %) points, which are unreliable, the front of the others)."""
    accuracy = column("map50_95")
    pts = [r for r in rows if value(r, x) is not None and value(r, accuracy) is not None]
    xy = [(value(r, x), 100 * value(r, accuracy)) for r in pts]
    shaky = [bool(unreliable(r, x)) for r in pts]
    trusted = [i for i in range(len(pts)) if not shaky[i]]
    return pts, xy, shaky, [trusted[j] for j in pareto_front([xy[i] for i in trusted])]


def front_size(rows: Sequence[Row], x: Column) -> int:
    """How many points the Pareto front of ``pareto_plot`` has (drawn as a line from two on)."""
    return len(_front(rows, x)[3])


def pareto_plot(rows: Sequence[Row], x: Column, xlabel: str, stem: Path, title: str) -> dict[str, Path] | None:
    """``pareto_figure`` saved as ``stem``.png and .svg; None when no row has both values."""
    fig = pareto_figure(rows, x, xlabel, title)
    return save_figure(fig, stem) if fig is not None else None


def _std(row: Row, col: Column) -> float | None:
    estimate = spread(row, col)
    return estimate.std if estimate is not None and _finite(estimate.std) else None


def pareto_figure(rows: Sequence[Row], x: Column, xlabel: str, title: str) -> Figure | None:
    """mAP50-95 (%) against column ``x`` per (model, backbone) summary row, std over seeds as error bars
    (where there are several seeds), the Pareto front as a line (with two or more points on it). Rows
    whose ``x`` latency is unreliable are drawn hollow, marked †, and left out of the front."""
    pts, xy, shaky, front = _front(rows, x)
    if not pts:
        return None
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    middle = (min(x for x, _ in xy) + max(x for x, _ in xy)) / 2
    accuracy = column("map50_95")
    for i, (r, (px, py)) in enumerate(zip(pts, xy)):
        yerr = _std(r, accuracy)
        yerr = 100 * yerr if yerr is not None else None
        xerr = _std(r, x)
        on_front = i in front and len(front) > 1
        color = f"C{i % 10}"
        ax.errorbar(px, py, yerr=yerr, xerr=xerr, fmt="o", ms=8 if on_front else 6, capsize=3,
                    mfc="none" if shaky[i] else color, mec="black" if on_front else color,
                    mew=1.5 if on_front else 1, color=color,
                    label=f"{r.entry.model} + {r.entry.label}" + (" († unreliable)" if shaky[i] else ""))
        left = len(pts) > 1 and px > middle  # labels grow towards the middle, so they stay inside the axes
        ax.annotate(f"{r.entry.label}" + ("†" if shaky[i] else ""), (px, py), textcoords="offset points",
                    xytext=(-6 if left else 6, 5), ha="right" if left else "left", fontsize=7,
                    annotation_clip=True)
    if len(front) > 1:
        fx, fy = zip(*(xy[i] for i in front))
        ax.step(fx, fy, where="post", color="black", ls="--", lw=1, label="Pareto front")
    ax.margins(x=0.15, y=0.12)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mAP50-95 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def read_curve(path: Path) -> dict[str, list[float]]:
    """A trainer results.csv as columns of floats (header names stripped); empty if unreadable."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            cols: dict[str, list[float]] = {}
            for line in reader:
                for key, value in line.items():
                    if key is None:
                        continue
                    try:
                        cols.setdefault(key.strip(), []).append(float(value))
                    except (TypeError, ValueError):
                        cols.setdefault(key.strip(), []).append(math.nan)
            return cols
    except OSError:
        return {}


def _curve_series(cols: dict[str, list[float]]) -> tuple[list[float], list[float] | None, list[float] | None]:
    """(epochs, val mAP50-95, train loss sum) from whatever column names the trainer used."""
    n = max((len(v) for v in cols.values()), default=0)
    epochs = cols.get("epoch") or list(range(n))
    map_key = next((k for k in cols if MAP_COLUMN.search(k.replace("_", "").replace("-", "")) or
                    MAP_COLUMN.search(k)), None)
    loss_keys = [k for k in cols if "loss" in k.lower() and not k.lower().startswith("val")]
    loss = [sum(vals) for vals in zip(*(cols[k] for k in loss_keys))] if loss_keys else None
    return epochs, cols[map_key] if map_key else None, loss


def training_curves(curves: dict[str, Path], stem: Path) -> dict[str, Path] | None:
    """Validation mAP50-95 and training loss per epoch of every cell, overlaid."""
    series = {name: _curve_series(read_curve(path)) for name, path in curves.items()}
    series = {k: v for k, v in series.items() if v[0] and (v[1] or v[2])}
    if not series:
        return None
    fig = Figure(figsize=(11, 4))
    ax_map, ax_loss = fig.subplots(1, 2)
    for i, (name, (epochs, maps, loss)) in enumerate(series.items()):
        style = {"color": f"C{i % 10}", "lw": 1.2, "marker": "o" if len(epochs) < 15 else None, "ms": 3}
        validated = [(e, m) for e, m in zip(epochs, maps or []) if math.isfinite(m)]  # val_every > 1: gaps
        if validated:
            scale = 100 if max(m for _, m in validated) <= 1 else 1
            ax_map.plot([e for e, _ in validated], [scale * m for _, m in validated], label=name,
                        **{**style, "marker": "o"})
        if loss:
            ax_loss.plot(epochs, loss, label=name, **style)
    ax_map.set(xlabel="epoch", ylabel="val mAP50-95 (%)", title="Validation mAP50-95")
    ax_loss.set(xlabel="epoch", ylabel="train loss (box + obj + cls)", title="Training loss")
    for ax in (ax_map, ax_loss):
        ax.grid(alpha=0.3)
    ax_map.legend(fontsize=7)
    return save_figure(fig, stem)


def _ap(row: Row, name: str) -> float:
    found = row.accuracy.per_class.get(name)
    return 100 * ((found.ap50_95 if found is not None else None) or 0.0)


def per_class_heatmap(rows: Sequence[SummaryRow], stem: Path) -> dict[str, Path] | None:
    """AP50-95 (%) per class (columns) and (model, backbone) (rows)."""
    rows = [r for r in rows if r.accuracy.per_class]
    if not rows:
        return None
    classes: list[str] = []
    for r in rows:
        classes += [c for c in r.accuracy.per_class if c not in classes]
    grid = [[_ap(r, c) for c in classes] for r in rows]
    labels = [f"{r.entry.model} + {r.entry.label}" for r in rows]
    fig = Figure(figsize=(min(2 + 0.45 * len(classes), 24), 1.2 + 0.45 * len(rows)))
    ax = fig.subplots()
    image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=max(1.0, max(map(max, grid))))
    ax.set_xticks(range(len(classes)), classes, rotation=60 if len(classes) > 6 else 0, ha="right"
                  if len(classes) > 6 else "center", fontsize=7 if len(classes) > 20 else 9)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    if len(classes) * len(rows) <= 300:
        top = max(map(max, grid)) or 1.0
        for i, line in enumerate(grid):
            for j, v in enumerate(line):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if v < 0.6 * top else "black")
    fig.colorbar(image, ax=ax, label="AP50-95 (%)")
    ax.set_title("Per-class AP50-95", fontsize=10)
    return save_figure(fig, stem)
