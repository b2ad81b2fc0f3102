"""One call that writes every error-analysis artefact of a detector's COCO results."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping

from yololab.atomic import atomic_write_text
from yololab.eval.analysis._index import index
from yololab.eval.analysis.confusion import confusion_matrix
from yololab.eval.analysis.curves import Curves, pr_curves
from yololab.eval.analysis.plots import plot_confusion, plot_errors, plot_f1, plot_pr
from yololab.eval.analysis.tide import tide_errors_of
from yololab.eval.analysis.voc import voc_ap_of
from yololab.jsonfile import write_json


def _write_f1_csv(curves: Curves, path: Path) -> None:
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(["conf", "precision", "recall", "f1"])
    means = (curves.mean(curves.p_conf), curves.mean(curves.r_conf), curves.mean(curves.f1_conf))
    for row in zip(curves.conf, *means):
        w.writerow([f"{v:.6g}" for v in row])
    atomic_write_text(path, f.getvalue(), path.parent)


def analyze(gt: Mapping[str, Any], dt: list[Mapping[str, Any]], out_dir: Path,
            names: Mapping[int, str] | None = None, conf: float = 0.25, iou: float = 0.45) -> dict[str, Any]:
    """Error analysis of COCO results ``dt`` against COCO ground truth ``gt`` (dicts).

    Writes to ``out_dir``: confusion_matrix.csv/.png and confusion_matrix_normalised.png (at score >=
    ``conf``, IoU ``iou``; rows = true, columns = predicted), pr_curve.png/.json, f1_curve.png/.csv,
    errors.json/.png (TIDE dAP50 points).  ``names`` overrides the GT's category names (id -> name).
    Returns {best_conf, best_f1, map50, errors (dAP points), error_counts, tide_ap50, voc07_map,
    voc12_map, files}; AP values are fractions except the TIDE figures, which are points (x100).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    every = index(gt, dt, names, max_dets=None)  # the files grouped once per call
    ds = every.top_detections()                  # COCOeval's top 100 per image and category
    cm = confusion_matrix(every, conf=conf, iou_thr=iou)
    cm.to_csv(out / "confusion_matrix.csv")
    files = [out / "confusion_matrix.csv", plot_confusion(cm, out / "confusion_matrix.png"),
             plot_confusion(cm, out / "confusion_matrix_normalised.png", normalise=True)]

    curves = pr_curves(ds)
    write_json(out / "pr_curve.json", curves.to_json(), out, indent=None)
    _write_f1_csv(curves, out / "f1_curve.csv")
    files += [out / "pr_curve.json", out / "f1_curve.csv", plot_pr(curves, out / "pr_curve.png"),
              plot_f1(curves, out / "f1_curve.png")]

    errors = tide_errors_of(ds)
    write_json(out / "errors.json", errors, out)
    files += [out / "errors.json", plot_errors(errors, out / "errors.png")]

    best_conf, best_f1 = curves.best()
    return {
        "best_conf": best_conf, "best_f1": best_f1, "map50": curves.map50,
        "errors": errors["dap"], "error_counts": errors["counts"], "tide_ap50": errors["ap50"],
        "voc07_map": voc_ap_of(every, "voc07")["map"], "voc12_map": voc_ap_of(every, "voc12")["map"],
        "files": [str(f) for f in files],
    }
