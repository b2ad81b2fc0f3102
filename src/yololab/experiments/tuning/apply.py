"""The chosen values into the cells: each entry's seeded cells train with its best trial's values.

The values go into the cell's backbone entry (``hyp`` overrides, ``freeze``, ``backbone_lr_mult``), so
they are part of the cell's resolved TrainConfig and so of its config fingerprint: a folder whose
cells were trained with other tuned values is refused, not silently reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from yololab.experiments.plan.spec import Cell
from yololab.experiments.tuning.records import EntryKey, StudyResult
from yololab.experiments.tuning.study import RESULT_FILE, TuningResult
from yololab.experiments.tuning.trial import with_values
from yololab.jsonfile import read_json_if_present


def tuned_cells(cells: Sequence[Cell], result: TuningResult) -> list[Cell]:
    out = []
    for cell in cells:
        study = result.for_key(EntryKey(cell.model, cell.label))
        out.append(with_values(cell, study.params) if study is not None and study.best_params else cell)
    return out


def load_studies(out_dir: str | Path) -> list[StudyResult]:
    """The studies saved in a comparison folder's ``tuning/tuning.json`` ([] when it was not tuned)."""
    data = read_json_if_present(Path(out_dir) / "tuning" / RESULT_FILE)
    return [StudyResult.from_plain(s) for s in (data or {}).get("studies", [])]


def chosen_values(out_dir: str | Path) -> dict[EntryKey, dict]:
    """Each entry's chosen values as saved in ``tuning/tuning.json`` ({} when the folder was not tuned)."""
    return {s.key: s.params for s in load_studies(out_dir)}


def tuned_cells_from_folder(cells: Sequence[Cell], out_dir: str | Path) -> list[Cell]:
    """``cells`` with the values chosen by the folder's saved studies (for --report-only)."""
    chosen = chosen_values(out_dir)
    return [with_values(c, chosen[EntryKey(c.model, c.label)]) if chosen.get(EntryKey(c.model, c.label)) else c
            for c in cells]


def values_text(params: dict) -> str:
    """'lr0=0.0123, freeze=1' (numbers to 3 significant digits)."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


__all__ = ["tuned_cells", "tuned_cells_from_folder", "chosen_values", "load_studies", "values_text"]
