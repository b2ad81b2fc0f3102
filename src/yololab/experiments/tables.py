"""The comparison table as CSV, JSON, Markdown and LaTeX (booktabs, best value per column in bold).

Summary rows show accuracy as mean ± 95% CI half-width (``<key>_ci95``), other columns as mean ± std,
and the difference to the reference row with its interval and a significance marker.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yololab.atomic import atomic_write_text


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


COLUMNS: tuple[Column, ...] = (
    Column("model", "Model", "Model"),
    Column("backbone", "Backbone", "Backbone"),
    Column("init", "Init", "Init"),
    Column("freeze", "Freeze", "Freeze", "d", optional=True, default=0),
    Column("backbone_lr_mult", "BB lr x", r"BB lr$\times$", "g", optional=True, default=1.0),
    Column("seed", "Seed", "Seed", "d"),
    Column("params", "Params (M)", "Params (M)", ".2f", 1e-6, "min", std=False),
    Column("backbone_params", "Backbone (M)", "Backbone (M)", ".2f", 1e-6, "min", std=False),
    Column("gflops", "GFLOPs", "GFLOPs", ".2f", 1.0, "min", std=False),
    Column("latency_torch_cpu_ms", "PyTorch CPU (ms)", "PyTorch CPU (ms)", ".1f", 1.0, "min", optional=True),
    Column("latency_onnxruntime_cpu_ms", "ORT CPU (ms)", "ORT CPU (ms)", ".1f", 1.0, "min", optional=True),
    Column("latency_cuda_fp16_ms", "CUDA FP16 (ms)", "CUDA FP16 (ms)", ".2f", 1.0, "min", optional=True),
    Column("map50_95", "mAP50-95", r"AP$_{50:95}$", ".1f", 100.0, "max"),
    Column("map50", "mAP50", r"AP$_{50}$", ".1f", 100.0, "max"),
    Column("map75", "mAP75", r"AP$_{75}$", ".1f", 100.0, "max"),
    Column("map_small", "APs", r"AP$_S$", ".1f", 100.0, "max"),
    Column("map_medium", "APm", r"AP$_M$", ".1f", 100.0, "max"),
    Column("map_large", "APl", r"AP$_L$", ".1f", 100.0, "max"),
    Column("train_seconds", "Train (min)", "Train (min)", ".1f", 1 / 60, "min", optional=True),
    Column("tuned", "Tuned", "Tuned", optional=True, default=""),
    Column("tune_seconds", "Tuning (min)", "Tuning (min)", ".1f", 1 / 60, None, optional=True, std=False),
    Column("peak_memory_mb", "Peak mem (MB)", "Peak mem (MB)", ".0f", 1.0, "min", optional=True),
)
SEEDS_COLUMN = Column("n_seeds", "Seeds", "$n$", "d")
SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("delta_map50_95", "Δ mAP50-95 vs ref [95% CI]", r"$\Delta$AP$_{50:95}$ vs ref [95\% CI]", "+.1f", 100.0),
    Column("p_holm", "p (Holm)", r"$p_\mathrm{Holm}$", ".3f"),
)
SIGNIFICANT, NOT_SIGNIFICANT, UNTESTED = "*", "n.s.", "(test set only)"
UNRELIABLE = "†"  # a latency timed on a busy CPU or with a wide spread: never bold, not on Pareto fronts


def unreliable(row: dict, key: str) -> str | None:
    """Why ``row``'s latency ``key`` ('latency_<backend>_ms') is unreliable, or None (other keys: None)."""
    if not (key.startswith("latency_") and key.endswith("_ms")):
        return None
    return row.get(key.removesuffix("_ms") + "_unreliable") or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


#: the paper's main table: model, backbone, init, seeds, cost, one latency, accuracy and Δ vs reference
COMPACT_COLUMNS = ("model", "backbone", "init", "seeds", "params", "gflops", "latency", "map50_95", "map50",
                   "delta")
#: 'latency' in a column list: the first of these that some row has (a GPU figure first, then ORT, PyTorch)
LATENCY_PREFERENCE = ("latency_cuda_fp16_ms", "latency_onnxruntime_cpu_ms", "latency_torch_cpu_ms")
ALIASES = {"seeds": "n_seeds", "n": "n_seeds", "delta": "delta_map50_95", "p": "p_holm"}


def column_names() -> list[str]:
    """Every name a column list (``--columns``, ``table: {columns}``) may use."""
    return [c.key for c in COLUMNS] + [SEEDS_COLUMN.key] + [c.key for c in SUMMARY_COLUMNS] + ["latency", *ALIASES]


def check_columns(names: Sequence[str], source: str = "columns") -> None:
    """Raise ValueError naming the first unknown column and the valid ones."""
    import difflib

    valid = column_names()
    for name in names:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{source}: unknown column {name!r}{hint}; valid: {', '.join(valid)}")


def _by_key(key: str) -> Column | None:
    return next((c for c in (*COLUMNS, SEEDS_COLUMN, *SUMMARY_COLUMNS) if c.key == key), None)


def chosen_columns(rows: Sequence[dict], names: Sequence[str], aggregated: bool = False) -> list[Column]:
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
        col = visible.get(key) or (None if key in ("delta_map50_95", "p_holm", "n_seeds") else _by_key(key))
        if col is not None and col not in cols:
            cols.append(col)
    return cols


def _is_empty(rows: Sequence[dict], col: Column, aggregated: bool) -> bool:
    """No finished row has a value: the column would be a run of '–'."""
    done = [r for r in rows if r.get("status") == "done"]
    return bool(done) and all(display(r, col, aggregated) in ("–", "") for r in done)


def split_empty(rows: Sequence[dict], cols: Sequence[Column], aggregated: bool = False) -> tuple[list[Column], list[Column]]:
    """(columns with some value, columns that are '–' in every finished row)."""
    empty = [c for c in cols if c.fmt and _is_empty(rows, c, aggregated)]
    return [c for c in cols if c not in empty], empty


def empty_note(dropped: Sequence[Column]) -> str | None:
    """'Left out: APs (no value in any row).' for the columns ``split_empty`` dropped."""
    if not dropped:
        return None
    names = ", ".join(c.header for c in dropped)
    return f"Left out for having no value in any row: {names}."


def visible_columns(rows: Sequence[dict], aggregated: bool = False) -> list[Column]:
    """Columns worth showing: optional ones only when some row has a (non-default) value."""
    cols = []
    for col in COLUMNS:
        if aggregated and col.key == "seed":
            cols.append(SEEDS_COLUMN)
            continue
        if col.optional:
            values = [r.get(col.key) for r in rows if r.get("status") == "done" or col.default is not None]
            if col.default is not None:
                if all(v is None or v == col.default for v in values):
                    continue
            elif all(_number(v) is None for v in values):
                continue
        cols.append(col)
    if aggregated and any(r.get("reference") for r in rows):
        cols += list(SUMMARY_COLUMNS)
    return cols


def delta_text(row: dict, col: Column) -> str:
    """'ref' for the reference row; else '+1.2 [-0.3, +2.7] n.s.' ('*' when Holm-significant, '(test set
    only)' for a one-seed row, which gets no test)."""
    if row.get("is_reference"):
        return "ref"
    value = _number(row.get(col.key))
    if value is None:
        return "–"
    text = format(value * col.scale, col.fmt)
    ci = row.get(f"{col.key}_ci95")
    if ci and all(_number(v) is not None for v in ci):
        lo, hi = (format(v * col.scale, col.fmt) for v in ci)
        mark = significance_mark(row)
        text += f" [{lo}, {hi}]" + (f" {mark}" if mark else "")
    return text


def significance_mark(row: dict) -> str:
    """'*' (Holm-significant), 'n.s.', or, where no test was made (one seed), the interval's kind."""
    significant = row.get("significant")
    if significant is None:
        return UNTESTED if row.get("delta_ci_kind") == "test set" else ""
    return SIGNIFICANT if significant else NOT_SIGNIFICANT


def p_text(row: dict) -> str:
    p = _number(row.get("p_holm"))
    if p is None:
        return "–" if not row.get("is_reference") else ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def display(row: dict, col: Column, with_std: bool = False) -> str:
    """The cell text: scaled and formatted; for summary rows 'mean ± CI half-width' (accuracy) or
    'mean ± std' (the rest)."""
    if col.key == "delta_map50_95":
        return delta_text(row, col)
    if col.key == "p_holm":
        return p_text(row)
    value = row.get(col.key)
    if col.fmt and col.fmt != "d" and _number(value) is not None:
        text = format(value * col.scale, col.fmt)
        ci = row.get(f"{col.key}_ci95")
        std = _number(row.get(f"{col.key}_std"))
        if with_std and ci and col.better and all(_number(v) is not None for v in ci):
            text += f" ± {format((ci[1] - ci[0]) / 2 * col.scale, col.fmt)}"
        elif with_std and std is not None and col.better and col.std:
            text += f" ± {format(std * col.scale, col.fmt)}"
        return text + (UNRELIABLE if unreliable(row, col.key) else "")
    if value is None:
        return "–" if col.fmt else ""
    return str(value)


def best_rows(rows: Sequence[dict], col: Column) -> set[int]:
    """Indices of the rows holding the best displayed value of ``col`` (ties all bold)."""
    if not col.better:
        return set()
    shown = {}
    for i, row in enumerate(rows):
        v = _number(row.get(col.key))
        if v is not None and row.get("status") == "done" and not unreliable(row, col.key):
            shown[i] = round(v * col.scale, 6 if not col.fmt.endswith("f") else int(col.fmt[1:-1] or 0))
    if len(shown) < 2 or len(set(shown.values())) == 1:
        return set()  # nothing to single out
    target = max(shown.values()) if col.better == "max" else min(shown.values())
    return {i for i, v in shown.items() if v == target}


def table_columns(rows: Sequence[dict], aggregated: bool = False,
                  columns: Sequence[str] | None = None) -> tuple[list[Column], list[Column]]:
    """(columns shown, empty columns left out): ``columns`` names them (default: every visible one)."""
    cols = chosen_columns(rows, columns, aggregated) if columns else visible_columns(rows, aggregated)
    return split_empty(rows, cols, aggregated)


def dropped_note(rows: Sequence[dict], aggregated: bool = False, columns: Sequence[str] | None = None) -> str | None:
    """``empty_note`` for the table ``table_columns`` makes of ``rows``."""
    return empty_note(table_columns(rows, aggregated, columns)[1])


def table_cells(rows: Sequence[dict], aggregated: bool = False,
                columns: Sequence[str] | None = None) -> tuple[list[Column], list[list[tuple[str, bool]]]]:
    """(columns, per row a list of (text, is_best)) -- shared by Markdown, LaTeX and HTML; ``columns``
    chooses them (see ``table_columns``)."""
    cols, _ = table_columns(rows, aggregated, columns)
    best = {col.key: best_rows(rows, col) for col in cols}
    body = []
    for i, row in enumerate(rows):
        if row.get("status") != "done":
            status = row.get("status", "?")
            body.append([(display(row, c), False) if not c.better else ("", False) for c in cols])
            first_metric = next((k for k, c in enumerate(cols) if c.better), len(cols) - 1)
            body[-1][first_metric] = (status, False)
            continue
        body.append([(display(row, c, aggregated), i in best[c.key]) for c in cols])
    return cols, body


# -- Markdown -------------------------------------------------------------------------------------
def markdown_table(rows: Sequence[dict], aggregated: bool = False, columns: Sequence[str] | None = None) -> str:
    cols, body = table_cells(rows, aggregated, columns)
    lines = ["| " + " | ".join(c.header for c in cols) + " |",
             "|" + "|".join("---:" if c.fmt else ":---" for c in cols) + "|"]
    for cells in body:
        texts = [t.replace("*", "\\*") for t, _ in cells]
        lines.append("| " + " | ".join(f"**{t}**" if b and t else t for t, (_, b) in zip(texts, cells)) + " |")
    return "\n".join(lines)


SUMMARY_TITLE = "Summary: mean ± 95% CI, Δ vs reference"
MAIN_TITLE = "Main table"


def main_rows(cell_rows: Sequence[dict], mean_rows: Sequence[dict]) -> tuple[Sequence[dict], bool]:
    """The rows of the main table and whether they are summary rows (one per model and backbone)."""
    return (mean_rows, True) if mean_rows else (cell_rows, False)


def markdown_report(cell_rows: Sequence[dict], mean_rows: Sequence[dict], caption: str,
                    warnings: Sequence[str] = (), notes: Sequence[str] = (), headline: Sequence[str] = (),
                    columns: Sequence[str] | None = None) -> str:
    """``warnings`` go first (in bold), then the ``headline`` sentences, the main table (``columns``,
    default ``COMPACT_COLUMNS``) with ``notes``, then the full tables."""
    parts = [f"# {caption.split('.')[0]}", ""]
    parts += [f"**Warning: {w}**\n" for w in warnings]
    parts += [f"- {h}" for h in headline] + ([""] if headline else [])
    rows, aggregated = main_rows(cell_rows, mean_rows)
    names = columns or COMPACT_COLUMNS
    parts += [f"## {MAIN_TITLE}", "", markdown_table(rows, aggregated, names), ""]
    parts += [f"{n}\n" for n in (*notes, dropped_note(rows, aggregated, names)) if n]
    parts += ["## Full tables", "", "### Every cell", "", markdown_table(cell_rows), ""]
    parts += [f"{n}\n" for n in (dropped_note(cell_rows),) if n]
    if mean_rows:
        parts += [f"### {SUMMARY_TITLE}", "", markdown_table(mean_rows, aggregated=True), ""]
        parts += [f"{n}\n" for n in (dropped_note(mean_rows, True),) if n]
    failed = [r for r in cell_rows if r.get("status") != "done"]
    if failed:
        parts += ["## Cells not finished", ""]
        parts += [f"- `{r['cell_id']}`: {r.get('status')}" + (f" -- {r['error']}" if r.get("error") else "")
                  for r in failed]
        parts.append("")
    parts += [caption, ""]
    return "\n".join(parts)


# -- LaTeX ----------------------------------------------------------------------------------------
_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
MAIN_PACKAGES = "booktabs,siunitx"
FULL_PACKAGES = "booktabs,siunitx,longtable,pdflscape"


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def tex_cell(text: str) -> str:
    """A cell's plain text as LaTeX: escaped, with ±, –, <, Δ and † typeset."""
    return (tex_escape(text).replace("±", r"$\pm$").replace("–", "--").replace("<", "$<$")
            .replace("Δ", r"$\Delta$").replace("†", r"$^\dagger$"))


def tex_header(col: Column, stacked: bool = False) -> str:
    """The LaTeX header; '(ms)' becomes siunitx's unit. ``stacked``: the unit or the '[95% CI]' part on
    a second line (after ``\\{}``, so that a '[' is not read as the line break's option), so that the
    header is no wider than its numbers."""
    text = col.tex.replace("(ms)", r"(\si{\milli\second})")
    for sep in (" [", " ("):
        head, found, tail = text.partition(sep)
        if stacked and found:
            align = "r" if col.fmt else "l"
            return rf"\begin{{tabular}}[b]{{@{{}}{align}@{{}}}}{head}\\{{}}{found.strip()}{tail}\end{{tabular}}"
    return text


def _tex_body(rows: Sequence[dict], cols: Sequence[Column], body: Sequence[Sequence[tuple[str, bool]]]) -> list[str]:
    """The table's rows, a \\midrule between models."""
    lines, previous_model = [], None
    for row, cells in zip(rows, body):
        if previous_model is not None and row.get("model") != previous_model:
            lines.append(r"\midrule")
        previous_model = row.get("model")
        texts = [rf"\textbf{{{tex_cell(text)}}}" if is_best and text else tex_cell(text) for text, is_best in cells]
        lines.append(" & ".join(texts) + r" \\")
    return lines


def latex_table(rows: Sequence[dict], caption_tex: str, label: str, aggregated: bool = False,
                columns: Sequence[str] | None = None) -> str:
    """A booktabs table* at its natural width (no \\resizebox); ``caption_tex`` is LaTeX already."""
    cols, body = table_cells(rows, aggregated, columns)
    align = "".join("r" if c.fmt else "l" for c in cols)
    lines = [r"\begin{table*}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{3pt}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(tex_header(c, True) for c in cols) + r" \\",
             r"\midrule", *_tex_body(rows, cols, body), r"\bottomrule", r"\end{tabular}",
             rf"\caption{{{caption_tex}}}", rf"\label{{{label}}}", r"\end{table*}"]
    return "\n".join(lines)


def latex_longtable(rows: Sequence[dict], caption_tex: str, label: str, aggregated: bool = False,
                    columns: Sequence[str] | None = None) -> str:
    """A landscape longtable (pdflscape): breaks across pages, header repeated; ``columns`` as for
    ``table_cells`` (default: every visible one)."""
    cols, body = table_cells(rows, aggregated, columns)
    header = " & ".join(tex_header(c, True) for c in cols) + r" \\"
    lines = [r"\begin{landscape}", r"\scriptsize", r"\setlength{\tabcolsep}{2.5pt}",
             rf"\begin{{longtable}}{{{''.join('r' if c.fmt else 'l' for c in cols)}}}",
             rf"\caption{{{caption_tex}}}\label{{{label}}}\\", r"\toprule", header, r"\midrule", r"\endfirsthead",
             r"\toprule", header, r"\midrule", r"\endhead", r"\bottomrule", r"\endlastfoot",
             *_tex_body(rows, cols, body), r"\end{longtable}", r"\end{landscape}"]
    return "\n".join(lines)


def _with_note(caption_tex: str, rows: Sequence[dict], aggregated: bool, columns: Sequence[str] | None = None) -> str:
    """The caption, plus the note on the empty columns its table leaves out."""
    note = dropped_note(rows, aggregated, columns)
    return caption_tex + (" " + tex_escape(note) if note else "")


def latex_document(cell_rows: Sequence[dict], mean_rows: Sequence[dict], caption_tex: str, name: str,
                   columns: Sequence[str] | None = None, notes_tex: Sequence[str] = ()) -> str:
    """results.tex: the main table (``columns``, default ``COMPACT_COLUMNS``); ``notes_tex`` end its caption."""
    rows, aggregated = main_rows(cell_rows, mean_rows)
    caption = _with_note(" ".join([caption_tex, *notes_tex]), rows, aggregated, columns or COMPACT_COLUMNS)
    header = [f"% yololab comparison, main table; needs \\usepackage{{{MAIN_PACKAGES}}}. Every column and every",
              "% cell: results_full.tex."]
    table = latex_table(rows, caption, f"tab:{name}", aggregated, columns or COMPACT_COLUMNS)
    return "\n".join(header) + "\n\n" + table + "\n"


#: results_full.tex splits every table in two, so that each fits a landscape page
COST_KEYS = ("params", "backbone_params", "gflops", *LATENCY_PREFERENCE[::-1], "train_seconds", "peak_memory_mb")


def column_groups(rows: Sequence[dict], aggregated: bool = False) -> tuple[list[str], list[str]]:
    """(identity + accuracy columns, identity + cost columns): every visible column, once each."""
    keys = [c.key for c in visible_columns(rows, aggregated)]
    identity = [k for k in keys if k in ("model", "backbone", "init", "freeze", "backbone_lr_mult", "seed",
                                         "n_seeds")]
    cost = [k for k in keys if k in COST_KEYS]
    accuracy = [k for k in keys if k not in identity and k not in cost]
    return identity + accuracy, identity + cost


def latex_full_document(cell_rows: Sequence[dict], mean_rows: Sequence[dict], caption_tex: str, name: str) -> str:
    """results_full.tex: the supplementary tables, every column (summary rows, then every cell), each as
    an accuracy and a cost table."""
    header = [f"% yololab comparison, supplementary tables; needs \\usepackage{{{FULL_PACKAGES}}}."]
    tables = []
    parts = [(mean_rows, True, "Summary rows", "mean"), (cell_rows, False, "One row per cell", "cell")]
    for rows, aggregated, what, tag in parts if mean_rows else parts[1:]:
        for kind, columns in zip(("accuracy", "cost"), column_groups(rows, aggregated)):
            caption = _with_note(f"{what}, {kind}. " + caption_tex, rows, aggregated, columns)
            tables.append(latex_longtable(rows, caption, f"tab:{name}-{tag}-{kind}", aggregated, columns))
    return "\n".join(header) + "\n\n" + "\n\n".join(tables) + "\n"


# -- CSV / JSON -----------------------------------------------------------------------------------
def flat_row(row: dict) -> dict:
    """A CSV row: nested values (per-class AP, seed lists) as JSON text."""
    return {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}


def write_csv(path: Path, rows: Sequence[dict]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys and k != "per_class"]
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(flat_row(row))
    atomic_write_text(path, handle.getvalue(), Path(path).parent)


def write_per_class_csv(path: Path, rows: Sequence[dict]) -> None:
    """Long format: one line per (cell, class)."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(["row_type", "cell_id", "model", "backbone", "seed", "class", "ap50_95", "ap50",
                     "instances"])
    for row in rows:
        for name, ap in (row.get("per_class") or {}).items():
            writer.writerow([row.get("row_type"), row.get("cell_id"), row.get("model"), row.get("backbone"),
                             row.get("seed", ""), name, ap.get("ap50_95"), ap.get("ap50"),
                             ap.get("instances", "")])
    atomic_write_text(path, handle.getvalue(), Path(path).parent)
