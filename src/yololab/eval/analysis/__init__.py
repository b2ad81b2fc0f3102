"""Error analysis for papers on COCO ground truth + COCO results from any tool: confusion matrix,
PR/F1 curves, TIDE error breakdown, VOC07/VOC12 AP50, and the compare-report figures."""

from yololab.eval.analysis.analyze import analyze
from yololab.eval.analysis.confusion import ConfusionMatrix, confusion_matrix
from yololab.eval.analysis.curves import Curves, pr_curves
from yololab.eval.analysis.plots import plot_errors, plot_errors_side_by_side, plot_pr_overlay
from yololab.eval.analysis.tide import ERROR_TYPES, tide_errors
from yololab.eval.analysis.voc import voc_ap, voc_interpolated_ap

__all__ = [
    "analyze",
    "ConfusionMatrix",
    "confusion_matrix",
    "Curves",
    "pr_curves",
    "plot_errors",
    "plot_errors_side_by_side",
    "plot_pr_overlay",
    "ERROR_TYPES",
    "tide_errors",
    "voc_ap",
    "voc_interpolated_ap",
]
