"""The table columns: which field of a row each shows, how it is formatted, which value is best, and
which columns a table of given rows shows. Shared by Markdown, LaTeX, HTML and the plots.

A column reads its record field (``get``): a number or text on a :class:`CellResult`, an
:class:`Estimate` on a :class:`SummaryRow`, shown as 'mean ± 95% CI half-width' (accuracy) or
'mean ± std' (the rest). ``key`` is its name in ``--columns`` and in the flat files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from yololab.experiments.results.latency_backends import BACKENDS, PREFERENCE, LatencyBackend, backend
from yololab.experiments.results.records import CellResult, Comparison, Estimate, RobustnessComparison, Row, SummaryRow


@dataclass(frozen=True)
class Column:
    key: str
    header: str                   # Markdown / HTML header
    tex: str                      # LaTeX header (units included)
    fmt: str = ""                 # format spec of the displayed (scaled) value
    scale: float = 1.0
    better: str | None = None     # 'max' or 'min': the best value is bold; None: not ranked
    optional: bool = False        # shown only when some row has it (or differs from the default)
    default: Any = None
    std: bool = True              # show '± std' over seeds (not for what seeds cannot change)
    get: Callable[[Any], Any] = field(default=lambda row: None, kw_only=True, compare=False)
    latency: LatencyBackend | None = field(default=None, kw_only=True)  # a latency column: may be unreliable


def comparison(row: Row) -> Comparison:
    """A summary row's comparison; an empty one for a cell (cells are not compared)."""
    return row.comparison if isinstance(row, SummaryRow) else Comparison()


def _latency_column(b: LatencyBackend) -> Column:
    def median(row: Row) -> Any:
        figure = row.latency.get(b.name)
        return figure.median_ms if figure is not None else None

    return Column(b.ms_key, b.column_header, b.column_header, b.fmt, 1.0, "min", optional=True, get=median,
                  latency=b)


def _robustness(row: Row, key: str) -> Any:
    found = getattr(row, "robustness", None)
    return getattr(found, key) if found is not None else None


def robustness_comparison(row: Row) -> RobustnessComparison:
    """A summary row's Δ mPC comparison; an empty one for a cell or a row without mPC."""
    found = row.robustness_comparison if isinstance(row, SummaryRow) else None
    return found or RobustnessComparison()


def _tuning(row: Row) -> Any:
    return row.tuning.tuned if row.tuning is not None else None


def _tune_seconds(row: Row) -> Any:
    return row.tuning.tune_seconds if row.tuning is not None else None


COLUMNS: tuple[Column, ...] = (
    Column("model", "Model", "Model", get=lambda r: r.entry.model),
    Column("backbone", "Backbone", "Backbone", get=lambda r: r.entry.label),
    Column("init", "Init", "Init", get=lambda r: r.entry.init),
    Column("freeze", "Freeze", "Freeze", "d", optional=True, default=0, get=lambda r: r.entry.freeze),
    Column("backbone_lr_mult", "BB lr x", r"BB lr$\times$", "g", optional=True, default=1.0,
           get=lambda r: r.entry.backbone_lr_mult),
    Column("seed", "Seed", "Seed", "d", get=lambda r: r.seed if isinstance(r, CellResult) else None),
    Column("params", "Params (M)", "Params (M)", ".2f", 1e-6, "min", std=False, get=lambda r: r.cost.params),
    Column("backbone_params", "Backbone (M)", "Backbone (M)", ".2f", 1e-6, "min", std=False,
           get=lambda r: r.cost.backbone_params),
    Column("gflops", "GFLOPs", "GFLOPs", ".2f", 1.0, "min", std=False, get=lambda r: r.cost.gflops),
    *(_latency_column(b) for b in BACKENDS),
    Column("map50_95", "mAP50-95", r"AP$_{50:95}$", ".1f", 100.0, "max", get=lambda r: r.accuracy.map50_95),
    Column("map50", "mAP50", r"AP$_{50}$", ".1f", 100.0, "max", get=lambda r: r.accuracy.map50),
    Column("map75", "mAP75", r"AP$_{75}$", ".1f", 100.0, "max", get=lambda r: r.accuracy.map75),
    Column("map_tiny", "APt", r"AP$_T$", ".1f", 100.0, "max", optional=True, get=lambda r: r.accuracy.map_tiny),
    Column("map_small", "APs", r"AP$_S$", ".1f", 100.0, "max", get=lambda r: r.accuracy.map_small),
    Column("map_medium", "APm", r"AP$_M$", ".1f", 100.0, "max", get=lambda r: r.accuracy.map_medium),
    Column("map_large", "APl", r"AP$_L$", ".1f", 100.0, "max", get=lambda r: r.accuracy.map_large),
    Column("mpc", "mPC", "mPC", ".1f", 100.0, "max", optional=True, get=lambda r: _robustness(r, "mpc")),
    Column("rpc", "rPC (%)", r"rPC (\%)", ".1f", 100.0, "max", optional=True, get=lambda r: _robustness(r, "rpc")),
    Column("train_seconds", "Train (min)", "Train (min)", ".1f", 1 / 60, "min", optional=True,
           get=lambda r: r.cost.train_seconds),
    Column("tuned", "Tuned", "Tuned", optional=True, default="", get=_tuning),
    Column("tune_seconds", "Tuning (min)", "Tuning (min)", ".1f", 1 / 60, None, optional=True, std=False,
           get=_tune_seconds),
    Column("peak_memory_mb", "Peak mem (MB)", "Peak mem (MB)", ".0f", 1.0, "min", optional=True,
           get=lambda r: r.cost.peak_memory_mb),
)
SEEDS_COLUMN = Column("n_seeds", "Seeds", "$n$", "d", get=lambda r: r.n_seeds)
SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("delta_map50_95", "Δ mAP50-95 vs ref [95% CI]", r"$\Delta$AP$_{50:95}$ vs ref [95\% CI]", "+.1f", 100.0,
           get=lambda r: comparison(r).delta),
    Column("p_holm", "p (Holm)", r"$p_\mathrm{Holm}$", ".3f", get=lambda r: comparison(r).p_holm),
)
#: Δ mPC vs the reference (``robustness:``): shown in summary tables whose rows have mPC
ROBUSTNESS_SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("delta_mpc", "Δ mPC vs ref [95% CI]", r"$\Delta$mPC vs ref [95\% CI]", "+.1f", 100.0,
           get=lambda r: robustness_comparison(r).delta),
)
SIGNIFICANT, NOT_SIGNIFICANT, UNTESTED = "*", "n.s.", "(test set only)"
UNRELIABLE = "†"  # a latency timed on a busy CPU or with a wide spread: never bold, not on Pareto fronts

#: the paper's main table: model, backbone, init, seeds, cost, one latency, accuracy and Δ vs reference
COMPACT_COLUMNS = ("model", "backbone", "init", "seeds", "params", "gflops", "latency", "map50_95", "map50",
                   "delta")
#: 'latency' in a column list: the first of these that some row has (a GPU figure first, then ORT, PyTorch)
LATENCY_PREFERENCE = tuple(backend(name).ms_key for name in PREFERENCE)
#: columns a column list names that stay out of a table whose rows have no such figure
NOT_FORCED = ("delta_map50_95", "p_holm", "n_seeds", "mpc", "rpc", "delta_mpc")
ALIASES = {"seeds": "n_seeds", "n": "n_seeds", "delta": "delta_map50_95", "p": "p_holm"}


def _number(value: Any) -> float | None:
    if isinstance(value, Estimate):
        value = value.mean
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def value(row: Row, col: Column) -> float | None:
    """The column's number for ``row`` (a summary row's mean); None when it has none."""
    return _number(col.get(row))


def spread(row: Row, col: Column) -> Estimate | None:
    """A summary row's estimate behind the column (mean, std, interval); None on a cell."""
    found = col.get(row)
    return found if isinstance(found, Estimate) else None


def unreliable(row: Row, col: Column) -> str | None:
    """Why ``row``'s figure in latency column ``col`` is unreliable, or None (other columns: None)."""
    if col.latency is None:
        return None
    figure = row.latency.get(col.latency.name)
    return (figure.unreliable or None) if figure is not None else None


def column_names() -> list[str]:
    """Every name a column list (``--columns``, ``table: {columns}``) may use."""
    return ([c.key for c in COLUMNS] + [SEEDS_COLUMN.key] + [c.key for c in SUMMARY_COLUMNS]
            + [c.key for c in ROBUSTNESS_SUMMARY_COLUMNS] + ["latency", *ALIASES])


def check_columns(names: Sequence[str], source: str = "columns") -> None:
    """Raise ValueError naming the first unknown column and the valid ones."""
    import difflib

    valid = column_names()
    for name in names:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{source}: unknown column {name!r}{hint}; valid: {', '.join(valid)}")


def column(key: str) -> Column:
    """The column named ``key`` (a --columns name, not an alias); KeyError if there is none."""
    found = _by_key(key)
    if found is None:
        raise KeyError(f"no column {key!r}")
    return found


def latency_column(name: str) -> Column:
    """The latency column of a backend (result or spec name)."""
    return column(backend(name).ms_key)


def _by_key(key: str) -> Column | None:
    return next((c for c in (*COLUMNS, SEEDS_COLUMN, *SUMMARY_COLUMNS, *ROBUSTNESS_SUMMARY_COLUMNS) if c.key == key),
                None)


def chosen_columns(rows: Sequence[Row], names: Sequence[str], aggregated: bool = False) -> list[Column]:
    """The columns ``names`` asks for, in its order; 'latency' is one backend (``LATENCY_PREFERENCE``),
    seeds / seed follow the table kind, and Δ and p only appear in summary tables with a reference."""
    check_columns(names)
    visible = {c.key: c for c in visible_columns(rows, aggregated)}
    cols: list[Column] = []
    for name in names:
        key = ALIASES.get(name, name)
        if key == "latency":
            key = next((k for k in LATENCY_PREFERENCE if k in visible), "")
        elif key in ("seed", "n_seeds"):
            key = "n_seeds" if aggregated else "seed"
        col = visible.get(key) or (None if key in NOT_FORCED else _by_key(key))
        if col is not None and col not in cols:
            cols.append(col)
    return cols


def _is_empty(rows: Sequence[Row], col: Column, aggregated: bool) -> bool:
    """No finished row has a value: the column would be a run of '–'."""
    done = [r for r in rows if r.done]
    return bool(done) and all(display(r, col, aggregated) in ("–", "") for r in done)


def split_empty(rows: Sequence[Row], cols: Sequence[Column],
                aggregated: bool = False) -> tuple[list[Column], list[Column]]:
    """(columns with some value, columns that are '–' in every finished row)."""
    empty = [c for c in cols if c.fmt and _is_empty(rows, c, aggregated)]
    return [c for c in cols if c not in empty], empty


def empty_note(dropped: Sequence[Column]) -> str | None:
    """'Left out: APs (no value in any row).' for the columns ``split_empty`` dropped."""
    if not dropped:
        return None
    names = ", ".join(c.header for c in dropped)
    return f"Left out for having no value in any row: {names}."


def visible_columns(rows: Sequence[Row], aggregated: bool = False) -> list[Column]:
    """Columns worth showing: optional ones only when some row has a (non-default) value."""
    cols = []
    for col in COLUMNS:
        if aggregated and col.key == "seed":
            cols.append(SEEDS_COLUMN)
            continue
        if col.optional:
            shown = [r for r in rows if r.done or col.default is not None]
            if col.default is not None:
                values = [col.get(r) for r in shown]
                if all(v is None or v == col.default for v in values):
                    continue
            elif all(value(r, col) is None for r in shown):
                continue
        cols.append(col)
    if aggregated and any(comparison(r).reference for r in rows):
        cols += list(SUMMARY_COLUMNS)
    if aggregated and any(getattr(r, "robustness", None) is not None for r in rows) \
            and any(comparison(r).reference for r in rows):
        cols += list(ROBUSTNESS_SUMMARY_COLUMNS)
    return cols


def delta_text(row: Row, col: Column) -> str:
    """'ref' for the reference row; else '+1.2 [-0.3, +2.7] n.s.' ('*' when Holm-significant, '(test set
    only)' for a one-seed row, which gets no test)."""
    if comparison(row).is_reference:
        return "ref"
    c = robustness_comparison(row) if col.key == "delta_mpc" else comparison(row)
    delta = _number(c.delta)
    if delta is None:
        return "–"
    text = format(delta * col.scale, col.fmt)
    ci = c.delta_ci95
    if ci and all(_number(v) is not None for v in ci):
        lo, hi = (format(v * col.scale, col.fmt) for v in ci)
        mark = _mark(c)
        text += f" [{lo}, {hi}]" + (f" {mark}" if mark else "")
    return text


def significance_mark(row: Row) -> str:
    """'*' (Holm-significant), 'n.s.', or, where no test was made (one seed), the interval's kind."""
    return _mark(comparison(row))


def _mark(c: Comparison | RobustnessComparison) -> str:
    if c.significant is None:
        return UNTESTED if c.ci_kind == "test set" else ""
    return SIGNIFICANT if c.significant else NOT_SIGNIFICANT


def p_text(row: Row) -> str:
    c = comparison(row)
    p = _number(c.p_holm)
    if p is None:
        return "–" if not c.is_reference else ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def display(row: Row, col: Column, with_std: bool = False) -> str:
    """The cell text: scaled and formatted; for summary rows 'mean ± CI half-width' (accuracy) or
    'mean ± std' (the rest)."""
    if col.key in ("delta_map50_95", "delta_mpc"):
        return delta_text(row, col)
    if col.key == "p_holm":
        return p_text(row)
    number, estimate = value(row, col), spread(row, col)
    if col.fmt and col.fmt != "d" and number is not None:
        text = format(number * col.scale, col.fmt)
        ci = estimate.ci95 if estimate else None
        std = _number(estimate.std) if estimate else None
        if with_std and ci and col.better and all(_number(v) is not None for v in ci):
            text += f" ± {format((ci[1] - ci[0]) / 2 * col.scale, col.fmt)}"
        elif with_std and std is not None and col.better and col.std:
            text += f" ± {format(std * col.scale, col.fmt)}"
        return text + (UNRELIABLE if unreliable(row, col) else "")
    shown = col.get(row)
    if shown is None:
        return "–" if col.fmt else ""
    return str(shown.mean if isinstance(shown, Estimate) else shown)


def best_rows(rows: Sequence[Row], col: Column) -> set[int]:
    """Indices of the rows holding the best displayed value of ``col`` (ties all bold)."""
    if not col.better:
        return set()
    shown = {}
    for i, row in enumerate(rows):
        v = value(row, col)
        if v is not None and row.done and not unreliable(row, col):
            shown[i] = round(v * col.scale, 6 if not col.fmt.endswith("f") else int(col.fmt[1:-1] or 0))
    if len(shown) < 2 or len(set(shown.values())) == 1:
        return set()  # nothing to single out
    target = max(shown.values()) if col.better == "max" else min(shown.values())
    return {i for i, v in shown.items() if v == target}


def table_columns(rows: Sequence[Row], aggregated: bool = False,
                  columns: Sequence[str] | None = None) -> tuple[list[Column], list[Column]]:
    """(columns shown, empty columns left out): ``columns`` names them (default: every visible one)."""
    cols = chosen_columns(rows, columns, aggregated) if columns else visible_columns(rows, aggregated)
    return split_empty(rows, cols, aggregated)


def dropped_note(rows: Sequence[Row], aggregated: bool = False, columns: Sequence[str] | None = None) -> str | None:
    """``empty_note`` for the table ``table_columns`` makes of ``rows``."""
    return empty_note(table_columns(rows, aggregated, columns)[1])


def table_cells(rows: Sequence[Row], aggregated: bool = False,
                columns: Sequence[str] | None = None) -> tuple[list[Column], list[list[tuple[str, bool]]]]:
    """(columns, per row a list of (text, is_best)) -- shared by Markdown, LaTeX and HTML; ``columns``
    chooses them (see ``table_columns``)."""
    cols, _ = table_columns(rows, aggregated, columns)
    best = {col.key: best_rows(rows, col) for col in cols}
    body = []
    for i, row in enumerate(rows):
        if not row.done:
            body.append([(display(row, c), False) if not c.better else ("", False) for c in cols])
            first_metric = next((k for k, c in enumerate(cols) if c.better), len(cols) - 1)
            body[-1][first_metric] = (str(row.status), False)
            continue
        body.append([(display(row, c, aggregated), i in best[c.key]) for c in cols])
    return cols, body


def main_rows(cell_rows: Sequence[Row], mean_rows: Sequence[Row]) -> tuple[Sequence[Row], bool]:
    """The rows of the main table and whether they are summary rows (one per model and backbone)."""
    return (mean_rows, True) if mean_rows else (cell_rows, False)
