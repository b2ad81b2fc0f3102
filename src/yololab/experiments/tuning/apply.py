"""The chosen values into the cells: each entry's seeded cells train with its best trial's values.

The values go into the cell's backbone entry (``hyp`` overrides, ``freeze``, ``backbone_lr_mult``), so
they are part of the cell's resolved TrainConfig and so of its config fingerprint: a folder whose
cells were trained with other tuned values is refused, not silently reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from yololab.experiments.spec import Cell
from yololab.experiments.tuning.records import EntryKey
from yololab.experiments.tuning.study import RESULT_FILE, TuningResult
from yololab.experiments.tuning.trial import with_values
from yololab.jsonfile import read_json_if_present


def tuned_cells(cells: Sequence[Cell], result: TuningResult) -> list[Cell]:
    out = []
    for cell in cells:
        study = result.for_key(EntryKey(cell.model, cell.label))
        out.append(with_values(cell, study.params) if study is not None and study.best_params else cell)
    return out


def chosen_values(out_dir: str | Path) -> dict[EntryKey, dict]:
    """Each entry's chosen values as saved in ``tuning/tuning.json`` ({} when the folder was not tuned)."""
    path = Path(out_dir) / "tuning" / RESULT_FILE
    data = read_json_if_present(path)
    if data is None:
        return {}
    return {EntryKey(s["model"], s["entry"]): s["best_params"] for s in data.get("studies", [])}


def tuned_cells_from_folder(cells: Sequence[Cell], out_dir: str | Path) -> list[Cell]:
    """``cells`` with the values chosen by the folder's saved studies (for --report-only)."""
    chosen = chosen_values(out_dir)
    return [with_values(c, chosen[EntryKey(c.model, c.label)]) if chosen.get(EntryKey(c.model, c.label)) else c
            for c in cells]


def values_text(params: dict) -> str:
    """'lr0=0.0123, freeze=1' (numbers to 3 significant digits)."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


__all__ = ["tuned_cells", "tuned_cells_from_folder", "chosen_values", "values_text"]
