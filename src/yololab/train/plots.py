"""Training curves: ``results.csv`` -> one PNG (losses, mAP, learning rates), matplotlib Agg backend."""

from __future__ import annotations

import math
from pathlib import Path

from yololab.atomic import atomic_write
from yololab.train.results import LOSS_COLUMNS, read_results

PANELS = (
    ("box loss", ("train/box_loss",)),
    ("obj loss", ("train/obj_loss",)),
    ("cls loss", ("train/cls_loss",)),
    ("mAP", ("metrics/map50", "metrics/map50_95", "metrics/map75")),
    ("fitness", ("fitness",)),
    ("learning rate", None),  # every lr/* column
)


def plot_results(csv_path: str | Path, png_path: str | Path | None = None) -> Path:
    """Plot the curves of a results.csv into ``png_path`` (default: results.png beside it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    csv_path = Path(csv_path)
    png_path = Path(png_path) if png_path else csv_path.with_suffix(".png")
    data = read_results(csv_path)
    if not data:
        raise ValueError(f"{csv_path} has no rows to plot")
    epochs = data["epoch"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), tight_layout=True)
    for ax, (title, columns) in zip(axes.ravel(), PANELS):
        columns = columns or tuple(k for k in data if k.startswith("lr/"))
        for col in columns:
            if col not in data:
                continue
            points = [(e, v) for e, v in zip(epochs, data[col]) if not math.isnan(v)]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="." if len(points) < 30 else None, label=col.split("/")[-1])
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if len(columns) > 1 or title in ("mAP", "learning rate"):
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(str(csv_path.parent.name))
    atomic_write(png_path, lambda handle: fig.savefig(handle, format="png", dpi=100), csv_path.parent)
    plt.close(fig)
    return png_path


__all__ = ["plot_results", "LOSS_COLUMNS"]
