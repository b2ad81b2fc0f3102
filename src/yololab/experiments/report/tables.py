"""The comparison tables as Markdown (results.md) and LaTeX (results.tex, results_full.tex: booktabs, best
value per column in bold); the columns and their texts are ``columns``'s, the CSV/JSON ``records_io``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from yololab.experiments.results.columns import (COMPACT_COLUMNS, LATENCY_PREFERENCE, Column, dropped_note, main_rows,
                                         table_cells, visible_columns)
from yololab.experiments.results.records import Row


# -- Markdown -------------------------------------------------------------------------------------
def markdown_table(rows: Sequence[Row], aggregated: bool = False, columns: Sequence[str] | None = None) -> str:
    cols, body = table_cells(rows, aggregated, columns)
    lines = ["| " + " | ".join(c.header for c in cols) + " |",
             "|" + "|".join("---:" if c.fmt else ":---" for c in cols) + "|"]
    for cells in body:
        texts = [t.replace("*", "\\*") for t, _ in cells]
        lines.append("| " + " | ".join(f"**{t}**" if b and t else t for t, (_, b) in zip(texts, cells)) + " |")
    return "\n".join(lines)


SUMMARY_TITLE = "Summary: mean ± 95% CI, Δ vs reference"
MAIN_TITLE = "Main table"


def markdown_report(cell_rows: Sequence[Row], mean_rows: Sequence[Row], caption: str,
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
    failed = [r for r in cell_rows if not r.done]
    if failed:
        parts += ["## Cells not finished", ""]
        parts += [f"- `{r.cell_id}`: {r.status}" + (f" -- {r.error}" if r.error else "") for r in failed]
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


def _tex_body(rows: Sequence[Row], cols: Sequence[Column], body: Sequence[Sequence[tuple[str, bool]]]) -> list[str]:
    """The table's rows, a \\midrule between models."""
    lines, previous_model = [], None
    for row, cells in zip(rows, body):
        if previous_model is not None and row.entry.model != previous_model:
            lines.append(r"\midrule")
        previous_model = row.entry.model
        texts = [rf"\textbf{{{tex_cell(text)}}}" if is_best and text else tex_cell(text) for text, is_best in cells]
        lines.append(" & ".join(texts) + r" \\")
    return lines


def latex_table(rows: Sequence[Row], caption_tex: str, label: str, aggregated: bool = False,
                columns: Sequence[str] | None = None) -> str:
    """A booktabs table* at its natural width (no \\resizebox); ``caption_tex`` is LaTeX already."""
    cols, body = table_cells(rows, aggregated, columns)
    align = "".join("r" if c.fmt else "l" for c in cols)
    lines = [r"\begin{table*}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{3pt}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(tex_header(c, True) for c in cols) + r" \\",
             r"\midrule", *_tex_body(rows, cols, body), r"\bottomrule", r"\end{tabular}",
             rf"\caption{{{caption_tex}}}", rf"\label{{{label}}}", r"\end{table*}"]
    return "\n".join(lines)


def latex_longtable(rows: Sequence[Row], caption_tex: str, label: str, aggregated: bool = False,
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


def _with_note(caption_tex: str, rows: Sequence[Row], aggregated: bool, columns: Sequence[str] | None = None) -> str:
    """The caption, plus the note on the empty columns its table leaves out."""
    note = dropped_note(rows, aggregated, columns)
    return caption_tex + (" " + tex_escape(note) if note else "")


def latex_document(cell_rows: Sequence[Row], mean_rows: Sequence[Row], caption_tex: str, name: str,
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


def column_groups(rows: Sequence[Row], aggregated: bool = False) -> tuple[list[str], list[str]]:
    """(identity + accuracy columns, identity + cost columns): every visible column, once each."""
    keys = [c.key for c in visible_columns(rows, aggregated)]
    identity = [k for k in keys if k in ("model", "backbone", "init", "freeze", "backbone_lr_mult", "seed",
                                         "n_seeds")]
    cost = [k for k in keys if k in COST_KEYS]
    accuracy = [k for k in keys if k not in identity and k not in cost]
    return identity + accuracy, identity + cost


def latex_full_document(cell_rows: Sequence[Row], mean_rows: Sequence[Row], caption_tex: str, name: str) -> str:
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
