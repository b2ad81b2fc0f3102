"""report.html: one self-contained file (inline CSS, figures as base64 PNG, no external URLs)."""

from __future__ import annotations

import base64
import html
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from yololab.experiments.results import columns
from yololab.experiments.results.records import CellResult, Row, SummaryRow
from yololab.experiments.results.records_io import to_flat
from yololab.experiments.plan.spec import ExperimentSpec
from yololab.experiments.report.tables import MAIN_TITLE, SUMMARY_TITLE

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1400px;
     padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{padding:.3em .6em;border-bottom:1px solid #e4e4e4;white-space:nowrap}
th{background:#f4f4f4;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:bold;background:#eef7ee} tr.failed td{color:#a33}
.caption{color:#555;font-size:.85em;max-width:1100px}
figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:min(100%,680px);height:auto;border:1px solid #eee}
.scroll{overflow-x:auto;max-width:100%}
figcaption{font-size:.85em;color:#555;max-width:900px}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
.kv td:first-child{color:#666}
ul.headline{font-size:1.05em;max-width:1100px;padding-left:1.2em} ul.headline li{margin:.2em 0}
.warning{background:#fff3cd;border:2px solid #d9a400;padding:.7em 1em;font-weight:bold;max-width:1100px}
"""


def _table_html(rows: Sequence[Row], aggregated: bool, table_id: str, names: Sequence[str] | None = None) -> str:
    cols, body = columns.table_cells(rows, aggregated, names)
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in cols)
    lines = [f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>']
    for row, cells in zip(rows, body):
        cls = "" if row.done else ' class="failed"'
        tds = "".join(f'<td class="{"num" if c.fmt else ""}{" best" if best else ""}">{html.escape(text)}</td>'
                      for c, (text, best) in zip(cols, cells))
        lines.append(f'<tr data-cell="{html.escape(str(row.cell_id))}"{cls}>{tds}</tr>')
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _headline_html(sentences: Sequence[str]) -> list[str]:
    """One line per comparison, before everything else."""
    if not sentences:
        return []
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
    return [f'<section id="headline"><h2>Headline</h2><ul class="headline">{items}</ul></section>']


def _main_table_html(cell_rows: Sequence[CellResult], mean_rows: Sequence[SummaryRow],
                     chosen: Sequence[str] | None) -> list[str]:
    """The compact main table (the paper's results.tex) with the note on the columns it leaves out."""
    rows, aggregated = columns.main_rows(cell_rows, mean_rows)
    names = chosen or columns.COMPACT_COLUMNS
    note = " ".join(n for n in (columns.dropped_note(rows, aggregated, names), "Every column, every cell and the "
                                "conventions (units, protocol, statistics): below.") if n)
    return [f"<h2>{MAIN_TITLE}</h2>", _table_html(rows, aggregated, "results-main", names),
            f'<p class="caption">{html.escape(note)}</p>']


def _figure_html(fig: dict[str, Any]) -> str:
    data = base64.b64encode(Path(fig["png"]).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(fig["title"])}" src="data:image/png;base64,{data}">'
            f'<figcaption><b>{html.escape(fig["title"])}.</b> {html.escape(fig["caption"])} '
            f'(vector version: plots/{html.escape(Path(fig["svg"]).name)})</figcaption></figure>'
            + fig.get("after_html", ""))


def _kv_table(items: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in items.items() if v is not None)
    return f'<table class="kv">{rows}</table>'


def protocol_html(protocol: dict[str, Any]) -> str:
    """The protocol card: the fields a reader checks first, then the whole protocol.json."""
    splits = protocol.get("data", {}).get("splits", {})
    software = protocol.get("software", {})
    rows = {f"{name} split": f"{v.get('images')} images, {v.get('labels')} labels, files {v.get('files_sha256')}"
            for name, v in splits.items()}
    rows.update({"selection split": protocol.get("selection_split") or "none (last epoch)",
                 "scoring split": protocol.get("score_split"), "checkpoint": protocol.get("checkpoint"),
                 "seeds": ", ".join(map(str, protocol.get("seeds", []))),
                 "deterministic": protocol.get("determinism", {}).get("deterministic"),
                 "yololab": f"{software.get('yololab')} (commit {software.get('commit') or 'unknown'}"
                            f"{', uncommitted changes' if software.get('dirty') else ''})",
                 "robustness": _robustness_text(protocol.get("shared", {}).get("robustness")),
                 "differs per backbone entry": ", ".join(protocol.get("differs_per_backbone", [])) or "nothing"})
    stems = protocol.get("stems")
    if stems:  # cards written before input channels were recorded have none
        adapted = [text for text in (stems.get("adapted") or {}).values() if text]
        rows["input channels"] = stems.get("in_channels")
        rows["stem adaptation"] = "; ".join(adapted) or "none (RGB images, or no pretrained stem)"
    return ("<h2 id='protocol'>Protocol</h2>" + _kv_table(rows) +
            "<details><summary>protocol.json</summary><pre id='protocol-json'>" +
            html.escape(json.dumps(protocol, indent=1, default=str)) + "</pre></details>")


def _robustness_text(card: dict[str, Any] | None) -> str | None:
    """The protocol card's corruption set, severities and seed in a line (None without ``robustness:``)."""
    if not card:
        return None
    return (f"{', '.join(card['corruptions'])} at severities {', '.join(map(str, card['severities']))}, "
            f"seed {card['seed']}")


def render_html(cell_rows: Sequence[CellResult], mean_rows: Sequence[SummaryRow], figures: Sequence[dict[str, Any]],
                caption: str, spec: ExperimentSpec, run: dict, warnings: Sequence[str] = (),
                notes: Sequence[str] = (), protocol: dict[str, Any] | None = None, headline: Sequence[str] = (),
                chosen: Sequence[str] | None = None) -> str:
    """The whole report as one HTML string: ``warnings``, the ``headline`` sentences and the main table
    (``chosen``, default ``columns.COMPACT_COLUMNS``) first, then the full tables (``notes`` under the
    summary), figures and details."""
    env = run.get("environment", {})
    name = spec.name
    done = sum(r.done for r in cell_rows)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(name)}: yololab backbone comparison</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(name)}: {html.escape(caption.split('. ')[0].rstrip('.') or 'backbone comparison')}</h1>",
             f"<p>{done} of {len(cell_rows)} cells finished; report written "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}.</p>",
             *(f'<p class="warning">Warning: {html.escape(w)}</p>' for w in warnings),
             *_headline_html(headline),
             *_main_table_html(cell_rows, mean_rows, chosen),
             "<h2>Results, every cell</h2>", _table_html(cell_rows, False, "results"),
             *(f'<p class="caption">{html.escape(n)}</p>' for n in (columns.dropped_note(cell_rows),) if n),
             f'<p class="caption">{html.escape(caption)}</p>']
    if mean_rows:
        parts += [f"<h2>{html.escape(SUMMARY_TITLE)}, every column</h2>",
                  _table_html(mean_rows, True, "results-mean"),
                  *(f'<p class="caption">{html.escape(n)}</p>' for n in (columns.dropped_note(mean_rows, True), *notes)
                    if n)]
    failed = [r for r in cell_rows if not r.done]
    if failed:
        parts.append("<h2>Cells not finished</h2><ul>")
        parts += [f"<li><code>{html.escape(r.cell_id)}</code>: {html.escape(str(r.status))}"
                  f"{(' &mdash; ' + html.escape(str(r.error))) if r.error else ''}</li>" for r in failed]
        parts.append("</ul>")
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [_figure_html(f) for f in figures]
    if protocol:
        parts.append(protocol_html(protocol))
    parts += ["<h2>How this was run</h2>", "<h3>Command</h3>",
              f"<pre id='command'>{html.escape(str(run.get('command', '')))}</pre>",
              *([f"<p>Later invocations on this folder:</p><pre>{html.escape(chr(10).join(later))}</pre>"]
                if (later := [c for c in run.get("commands", [])[1:] if c]) else []),
              "<h3>Environment</h3>",
              _kv_table({"yololab": env.get("yololab"), "torch": env.get("torch"), "timm": env.get("timm"),
                         "onnxruntime": env.get("onnxruntime"), "python": env.get("python"),
                         "CPU": env.get("cpu"), "GPU": env.get("cuda") or "none", "platform": env.get("platform"),
                         "executor": run.get("executor"), "devices": ",".join(run.get("devices") or []),
                         "started": run.get("started")}),
              "<h3>Experiment config (experiment.yaml)</h3>",
              f"<pre id='config'>{html.escape(yaml.safe_dump(spec.to_dict(), sort_keys=False))}</pre>"]
    parts += ["<h3>Per-cell details</h3>"]
    for r in cell_rows:
        detail = {k: v for k, v in to_flat(r).items() if k != "per_class"}  # the cell's results.json row
        parts.append(f"<details><summary><code>{html.escape(r.cell_id)}</code> ({html.escape(str(r.status))})"
                     f"</summary><pre>{html.escape(json.dumps(detail, indent=1, default=str))}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
