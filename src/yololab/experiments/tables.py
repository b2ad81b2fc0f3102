"""The comparison table as CSV, JSON, Markdown and LaTeX (booktabs, best value per column in bold).

Summary rows show accuracy as mean ± 95% CI half-width (``<key>_ci95``), other columns as mean ± std,
and the difference to the reference row with its interval and a significance marker.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    Column("peak_memory_mb", "Peak mem (MB)", "Peak mem (MB)", ".0f", 1.0, "min", optional=True),
)
SEEDS_COLUMN = Column("n_seeds", "Seeds", "$n$", "d")
SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("delta_map50_95", "Δ mAP50-95 vs ref [95% CI]", r"$\Delta$AP$_{50:95}$ vs ref [95\% CI]", "+.1f", 100.0),
    Column("p_holm", "p (Holm)", r"$p_\mathrm{Holm}$", ".3f"),
)
SIGNIFICANT, NOT_SIGNIFICANT, UNTESTED = "*", "n.s.", "(test set only)"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


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
        text += f" [{lo}, {hi}] " + significance_mark(row)
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
        return text
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
        if v is not None and row.get("status") == "done":
            shown[i] = round(v * col.scale, 6 if not col.fmt.endswith("f") else int(col.fmt[1:-1] or 0))
    if len(shown) < 2 or len(set(shown.values())) == 1:
        return set()  # nothing to single out
    target = max(shown.values()) if col.better == "max" else min(shown.values())
    return {i for i, v in shown.items() if v == target}


def table_cells(rows: Sequence[dict], aggregated: bool = False) -> tuple[list[Column], list[list[tuple[str, bool]]]]:
    """(columns, per row a list of (text, is_best)) -- shared by Markdown, LaTeX and HTML."""
    cols = visible_columns(rows, aggregated)
    best = {col.key: best_rows(rows, col) for col in cols}
    body = []
    for i, row in enumerate(rows):
        if row.get("status") != "done":
            status = row.get("status", "?")
            body.append([(display(row, c), False) if not c.better else ("", False) for c in cols])
            first_metric = next(k for k, c in enumerate(cols) if c.better)
            body[-1][first_metric] = (status, False)
            continue
        body.append([(display(row, c, aggregated), i in best[c.key]) for c in cols])
    return cols, body


# -- Markdown -------------------------------------------------------------------------------------
def markdown_table(rows: Sequence[dict], aggregated: bool = False) -> str:
    cols, body = table_cells(rows, aggregated)
    lines = ["| " + " | ".join(c.header for c in cols) + " |",
             "|" + "|".join("---:" if c.fmt else ":---" for c in cols) + "|"]
    for cells in body:
        texts = [t.replace("*", "\\*") for t, _ in cells]
        lines.append("| " + " | ".join(f"**{t}**" if b and t else t for t, (_, b) in zip(texts, cells)) + " |")
    return "\n".join(lines)


SUMMARY_TITLE = "Summary: mean ± 95% CI, Δ vs reference"


def markdown_report(cell_rows: Sequence[dict], mean_rows: Sequence[dict], caption: str,
                    warnings: Sequence[str] = (), notes: Sequence[str] = ()) -> str:
    """``warnings`` go first (in bold), ``notes`` under the summary table."""
    parts = [f"# {caption.split('.')[0]}", ""]
    parts += [f"**Warning: {w}**\n" for w in warnings]
    parts += [markdown_table(cell_rows), ""]
    if mean_rows:
        parts += [f"## {SUMMARY_TITLE}", "", markdown_table(mean_rows, aggregated=True), ""]
        parts += [f"{n}\n" for n in notes]
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


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex_table(rows: Sequence[dict], caption_tex: str, label: str, aggregated: bool = False) -> str:
    """A booktabs table*; ``caption_tex`` is LaTeX already (escape its plain parts with tex_escape)."""
    cols, body = table_cells(rows, aggregated)
    align = "".join("r" if c.fmt else "l" for c in cols)
    lines = [r"\begin{table*}[t]", r"\centering", r"\small", r"\resizebox{\textwidth}{!}{%",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(c.tex for c in cols) + r" \\", r"\midrule"]
    previous_model = None
    for row, cells in zip(rows, body):
        if previous_model is not None and row.get("model") != previous_model:
            lines.append(r"\midrule")
        previous_model = row.get("model")
        texts = []
        for text, is_best in cells:
            text = (tex_escape(text).replace("±", r"$\pm$").replace("–", "--").replace("<", "$<$")
                    .replace("Δ", r"$\Delta$"))
            texts.append(rf"\textbf{{{text}}}" if is_best and text else text)
        lines.append(" & ".join(texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", rf"\caption{{{caption_tex}}}", rf"\label{{{label}}}",
              r"\end{table*}"]
    return "\n".join(lines)


def latex_document(cell_rows: Sequence[dict], mean_rows: Sequence[dict], caption_tex: str, name: str) -> str:
    header = ["% yololab comparison table; needs \\usepackage{booktabs} and \\usepackage{graphicx}",
              "% (resizebox). Best value per column in bold."]
    tables = []
    if mean_rows:
        tables.append(latex_table(mean_rows, caption_tex + r" Summary: mean $\pm$ 95\% CI half-width over seeds "
                                  r"(accuracy), mean $\pm$ std (other columns); $\Delta$ vs the reference row.",
                                  f"tab:{name}-mean", aggregated=True))
    tables.append(latex_table(cell_rows, caption_tex, f"tab:{name}"))
    return "\n".join(header) + "\n\n" + "\n\n".join(tables) + "\n"


# -- CSV / JSON -----------------------------------------------------------------------------------
def flat_row(row: dict) -> dict:
    """A CSV row: nested values (per-class AP, seed lists) as JSON text."""
    return {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}


def write_csv(path: Path, rows: Sequence[dict]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys and k != "per_class"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(flat_row(row))


def write_per_class_csv(path: Path, rows: Sequence[dict]) -> None:
    """Long format: one line per (cell, class)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row_type", "cell_id", "model", "backbone", "seed", "class", "ap50_95", "ap50",
                         "instances"])
        for row in rows:
            for name, ap in (row.get("per_class") or {}).items():
                writer.writerow([row.get("row_type"), row.get("cell_id"), row.get("model"), row.get("backbone"),
                                 row.get("seed", ""), name, ap.get("ap50_95"), ap.get("ap50"),
                                 ap.get("instances", "")])
