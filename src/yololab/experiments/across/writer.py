"""The outputs across data sets, beside the per-data-set folders: across.{md,tex,json}, protocol.json
(each data set's fingerprints), forest plots and report.html. Reads only results.json files."""

from __future__ import annotations

import base64
import html
from dataclasses import asdict
from pathlib import Path
from typing import Any

from yololab.atomic import atomic_write_text
from yololab.experiments.across import tables
from yololab.experiments.across.figures import forest_plot, rank_plot
from yololab.experiments.across.pooling import AcrossTable, pool_datasets
from yololab.experiments.across.spec import AcrossSpec
from yololab.experiments.report.html import CSS
from yololab.jsonfile import read_json_if_present, write_json


def protocol(spec: AcrossSpec, out: Path) -> dict[str, Any]:
    """The data sets, what each sets for itself, and each one's protocol card data section."""
    datasets = []
    for d in spec.datasets:
        card = read_json_if_present(out / "datasets" / d.name / "protocol.json") or {}
        datasets.append({"name": d.name, "data": d.data, "set_per_data_set": dict(d.overrides),
                         "fingerprint": card.get("data"), "score_split": card.get("score_split")})
    return {"datasets": datasets, "pooled_method": "random effects, Paule-Mandel tau^2, modified Hartung-Knapp"}


def _html(spec: AcrossSpec, table: AcrossTable, figures: list[tuple[str, Path]]) -> str:
    head = ["model", "backbone", *(f"{d.name} mAP50-95" for d in table.datasets), "pooled Δ vs ref [95% CI]"]
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in (
        r.row.entry.model, r.row.entry.label, *(tables.map_text(d.map50_95) for d in r.per_dataset),
        tables.pooled_text(r))) + "</tr>" for r in table.rows)
    figs = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png.read_bytes()).decode("ascii")}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for title, png in figures)
    links = " · ".join(f'<a href="datasets/{html.escape(d.name)}/report.html">{html.escape(d.name)}</a>'
                       for d in table.datasets)
    sentences = "".join(f"<li>{html.escape(s)}</li>" for s in tables.headline(table) + tables.rank_lines(table))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(spec.name)}: across "
            f"data sets</title><style>{CSS}</style></head><body><h1>{html.escape(spec.name)}: "
            f"{len(table.datasets)} data sets</h1><ul class='headline'>{sentences}</ul>"
            f"<table><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table><p>{html.escape(' '.join(tables.notes(table)))}</p>{figs}"
            f"<p>Each data set's own report: {links}</p></body></html>")


def write_across_report(spec: AcrossSpec, out_dir: str | Path) -> dict[str, Path]:
    """Pool the data sets' results and write every output across them; returns the paths by kind."""
    out = Path(out_dir)
    table = pool_datasets(spec.datasets, out)
    paths = {"md": out / "across.md", "tex": out / "across.tex", "json": out / "across.json",
             "protocol": out / "protocol.json", "html": out / "report.html"}
    sentences = tables.headline(table) + tables.rank_lines(table)
    atomic_write_text(paths["md"], "\n".join(f"- {s}" for s in sentences) + "\n\n" + tables.markdown_table(table), out)
    atomic_write_text(paths["tex"], tables.latex_table(table), out)
    write_json(paths["json"], {"datasets": [d.name for d in spec.datasets], "headline": sentences,
                               "rows": tables.rows_for_json(table.rows),
                               "rank_tests": [asdict(r) for r in table.ranks]}, out)
    write_json(paths["protocol"], protocol(spec, out), out)
    figures = []
    for r in table.rows:
        made = forest_plot(r, out / "plots" / f"forest_{r.row.entry.model}_{r.row.entry.label}".replace(":", "-"))
        if made:
            figures.append((f"{r.row.entry.model} {r.row.entry.label} vs {r.row.comparison.reference}", made["png"]))
            paths[f"forest_{r.row.entry.label}"] = made["png"]
    for test in table.ranks:
        made = rank_plot(test, out / "plots" / f"ranks_{test.model}")
        figures.append((f"{test.model}: critical-difference diagram over {len(spec.datasets)} data sets", made["png"]))
        paths[f"ranks_{test.model}"] = made["png"]
    atomic_write_text(paths["html"], _html(spec, table, figures), out)
    return paths
