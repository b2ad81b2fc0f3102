"""The main table's notes on how its rows were trained and scored where that is not the default: tiled
training (``tiles:``), sliced inference (``slicing:``), the sliced-vs-whole ablation, COCO's detections per
image (``max_det``), the tiny bin."""

from __future__ import annotations

from collections.abc import Sequence

from yololab.experiments.plan.spec import ExperimentSpec
from yololab.experiments.results.records import CellResult


def scoring_notes(spec: ExperimentSpec, rows: Sequence[CellResult],
                  main_columns: Sequence[str] | None = None) -> list[str]:
    """Sentences for under the main table (and the end of the LaTeX caption); ``main_columns``: the main
    table's chosen columns (None: the compact default, which leaves APt to the full table)."""
    notes = []
    if spec.tiles is not None:
        t = spec.tiles
        notes.append(f"Trained on tiles of {t.size} px cut on the fly (overlap {t.overlap:g}, boxes kept when at "
                     f"least {t.min_visibility:g} of them is inside{', whole images added' if t.whole_images else ''}).")
    if spec.slicing is not None:
        notes.append(spec.slicing.sentence())
    if spec.max_det is not None:
        notes.append(f"COCO scores up to {spec.max_det} detections per image (max_det; COCO's default is 100).")
    if any(r.accuracy.map_tiny is not None for r in rows):
        where = "" if main_columns and "map_tiny" in main_columns else " (in the full table)"
        notes.append(f"APt{where}: AP of objects under 16^2 px (the tiny bin of AI-TOD and VisDrone), inside APs.")
    return notes
