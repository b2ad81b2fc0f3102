"""``write_report``: results.{csv,json,md,tex}, per_class.csv, plots/*.{png,svg} and report.html."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import yaml

from yololab.atomic import atomic_write_text
from yololab.experiments.report import analysis_figures, plots, tables
from yololab.experiments.report.robustness_figures import robustness_figures
from yololab.experiments.report.robustness_stats import robustness_note
from yololab.experiments.results import columns
from yololab.experiments.report.aggregate import aggregate_rows
from yololab.experiments.results.environment import environment
from yololab.experiments.results.latency_backends import BACKENDS, LatencyBackend
from yololab.experiments.results.records import CellResult, Latency, SummaryRow
from yololab.experiments.results.records_io import results_json, write_csv, write_per_class_csv
from yololab.experiments.report.rows import load_rows
from yololab.experiments.plan.spec import ExperimentSpec
from yololab.experiments.report.scoring_notes import scoring_notes
from yololab.experiments.report.summary import summarise
from yololab.experiments.results.table_facts import TableFacts, VarianceComponents
from yololab.jsonfile import read_json_if_present

LOG = logging.getLogger("yololab")


def _figures(rows: list[CellResult], b: LatencyBackend) -> list[Latency]:
    return [r.latency[b.name] for r in rows if b.name in r.latency]


def _latency_devices(rows: list[CellResult]) -> dict[LatencyBackend, str]:
    """Backend -> device name(s), from the cells' bench results."""
    out = {}
    for b in BACKENDS:
        names = {f.device for f in _figures(rows, b) if f.device}
        if names:
            out[b] = ", ".join(sorted(names))
    return out


def _latency_threads(rows: list[CellResult], b: LatencyBackend) -> str:
    """', 2 threads' for a CPU backend's figures (all counts seen), '' when unknown."""
    counts = sorted({f.threads for f in _figures(rows, b) if f.threads})
    return f", {'/'.join(map(str, counts))} thread{'s' if counts != [1] else ''}" if counts else ""


def unreliable_note(rows: list[CellResult]) -> str | None:
    """The caption's word on latency figures marked † (busy CPU or wide spread), None when there are none."""
    from yololab.experiments.score.latency import BUSY_LOAD_SHARE, WIDE_SPREAD

    reasons = sorted({str(f.unreliable) for r in rows for f in r.latency.values() if f.unreliable})
    if not reasons:
        return None
    shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    return (f"{columns.UNRELIABLE} unreliable latency ({shown}): timed while the 1-minute load exceeded "
            f"{BUSY_LOAD_SHARE:g} x the cores, or with p90 over {WIDE_SPREAD:g} x the median; never bold and left out "
            f"of the Pareto fronts. Re-time on an idle machine with: yololab compare --out DIR --retime.")


def _images(row: CellResult) -> int | None:
    p = row.provenance
    return p.num_score_images if p.num_score_images is not None else p.num_val_images


def _score_split(rows: list[CellResult]) -> tuple[str, int | None]:
    """The scoring split of the cells (val for rows from before it was recorded) and its image count."""
    done = [r for r in rows if r.done]
    splits = sorted({str(r.score_split or "val") for r in done}) or ["val"]
    counts = {_images(r) for r in done} - {None}
    return "/".join(splits), (counts.pop() if len(counts) == 1 else None)


def scoring_sentence(spec: ExperimentSpec, rows: list[CellResult]) -> str:
    """Which weights were scored on which split; 'optimistic' when selection and scoring share val."""
    split, images = _score_split(rows)
    on = f"the {split} split" + (f" ({images} images)" if images else "")
    if spec.checkpoint == "last":
        return f"Weights of the last epoch (no checkpoint selection), scored on {on}."
    if split == "val":
        return (f"Best epoch chosen on val and scored on {on}: selected and scored on the same split "
                f"(optimistic).")
    return f"Best epoch chosen on the val split, scored on {on}."


def statistics_sentences(spec: ExperimentSpec, facts: TableFacts) -> list[str]:
    """How the summary's intervals, Δ and significance were computed (and what they leave out)."""
    n_seeds = facts.n_seeds
    boot = facts.bootstrap
    ref = f"the entry '{spec.reference}'" if spec.reference else "the native backbone of the same model"
    if n_seeds >= 2:
        spread = ("± half-width of the 95% Student-t interval over seeds (accuracy; ± std for the other columns)")
    elif boot:
        spread = (f"± half-width of the 95% test-set interval (image bootstrap over the {boot.images} "
                  f"{boot.split} images; seed-to-seed variance not covered)")
    else:
        spread = "no interval (one seed, no saved detections)"
    out = [f"Summary rows: mean over {n_seeds} seed(s) {spread}; Δ vs ref = mean over paired seeds of the row's "
           f"mAP50-95 minus that of its reference ({ref})."]
    if boot and facts.comparisons:
        out.append(f"Δ's 95% interval and two-sided p: {facts.method} ({facts.method_reference}); "
                   f"the test-set variance from {boot.resamples} paired resamples of the {boot.images} "
                   f"{boot.split} images (seed {facts.bootstrap_seed}); p Holm-corrected over the table's "
                   f"{facts.comparisons} comparison(s); * = p_Holm < {facts.alpha}, n.s. otherwise. "
                   f"Simulated false-positive rate at 2-10 seeds: at most the nominal 5% "
                   f"(benchmarks/calibration.py).")
    if boot and facts.untested:
        out.append("One seed: Δ's interval covers the finite test set only (image bootstrap), so no significance is "
                   "claimed: the next seed may reverse such a difference. Run at least 2 (better 3) seeds.")
    if not boot:
        out.append("No saved detections: Δ is the plain difference of seed means, without interval or test.")
    components = facts.variance_components
    if components:
        out.append("Variance components of Δ in points (seed sd / test-set sd; seeds for a 1-point difference at "
                   "80% power): " + "; ".join(f"{c.backbone} {_points(c.delta_seed_sd)} / "
                                              f"{_points(c.delta_image_sd)} ({_seeds_short(c)})"
                                              for c in components) + ".")
    return out


def _seeds_short(c: VarianceComponents) -> str:
    if c.more_seeds_cannot_help:
        return "no number of seeds: the test set is too small"
    if c.delta_seed_sd is None:
        return "unknown with one seed"
    return f"{c.seeds_needed} seeds" if c.seeds_needed else "over 1000 seeds"


def _points(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def seeds_notes(facts: TableFacts) -> list[str]:
    """Per comparison: the two variance components of Δ and the seeds needed to detect 1 point."""
    delta, power = 100 * facts.power_delta, int(100 * facts.power)
    out = []
    for c in facts.variance_components:
        seeds = (f"{_points(c.delta_seed_sd)} points (sd over {c.paired_seeds} paired seeds)"
                 if c.delta_seed_sd is not None else "unknown (one seed)")
        head = (f"{c.backbone} vs {c.reference} ({c.model}): seed spread of Δ {seeds}, test-set spread "
                f"{_points(c.delta_image_sd)} points (image bootstrap)")
        if c.more_seeds_cannot_help:
            tail = (f"the test-set spread alone makes a {delta:g}-point difference undetectable with {power}% power at "
                    f"any number of seeds: more seeds cannot help, a larger scoring split would.")
        elif c.delta_seed_sd is None:
            tail = (f"with one seed the seed spread is unknown, so the seeds needed to detect {delta:g} point cannot "
                    f"be estimated; run at least 2 (better 3) seeds.")
        elif c.seeds_needed:
            tail = f"about {c.seeds_needed} seeds would detect a {delta:g}-point difference with {power}% power."
        else:
            tail = f"more than 1000 seeds would be needed to detect {delta:g} point with {power}% power."
        out.append(f"Seeds needed: {head}; {tail}")
    if not out:
        out.append(f"Seeds needed: no comparison with saved detections, so the seeds needed to detect a "
                   f"{delta:g}-point difference cannot be estimated.")
    return out


def identical_seed_warnings(facts: TableFacts) -> list[str]:
    return [f"{w.model} {w.backbone}: seeds " + "; ".join(f"{a} and {b}" for a, b in w.seeds) +
            " give identical metrics. The seed is not reaching data order, augmentation or initialisation, so the "
            "spread over seeds (and every interval built on it) understates training variance."
            for w in facts.identical_seeds]


def caption_parts(spec: ExperimentSpec, rows: list[CellResult], data_name: str,
                  facts: TableFacts | None = None) -> list[tuple[str, str]]:
    """Caption sentences as (plain text, LaTeX) pairs: metric, units and measuring conventions."""
    eval_size = spec.resolved_eval_imgsz
    devices = _latency_devices(rows)
    seeds = spec.seeds
    esc = tables.tex_escape
    split, _ = _score_split(rows)
    scoring = scoring_sentence(spec, rows)
    parts = [
        (f"Backbone comparison on {data_name} ({split} split) at {eval_size} px.",
         f"Backbone comparison on {esc(data_name)} ({esc(split)} split) at {eval_size}\\,px."),
        (scoring, esc(scoring)),
        ("mAP is the COCO protocol (faster-coco-eval) in %: AP50-95 averaged over IoU 0.50:0.95, "
         "APs/APm/APl by object area (<32^2, 32^2-96^2, >96^2 px; '–': no objects of that size).",
         r"AP in \%, COCO protocol (faster-coco-eval): AP$_{50:95}$ averaged over IoU 0.50:0.95; "
         r"AP$_S$/AP$_M$/AP$_L$ by object area ($<32^2$, $32^2$--$96^2$, $>96^2$\,px; --: no objects of "
         r"that size)."),
        ("Params in millions, training-time model; Backbone = the backbone's parameters alone "
         "(1x1 channel adapters and the shared neck and head excluded).",
         r"Params in millions (training-time model); Backbone: the backbone alone "
         r"($1{\times}1$ channel adapters, shared neck and head excluded)."),
        (f"GFLOPs = 2 x multiply-adds for one {eval_size}x{eval_size} image, fused model (BN folded).",
         f"GFLOPs $=2\\times$ multiply-adds for one ${eval_size}\\times{eval_size}$ image, fused model "
         f"(BN folded)."),
    ]
    if devices:
        where = "; ".join(f"{b.label} on {v}{_latency_threads(rows, b)}" for b, v in devices.items())
        runs, warmup = spec.latency_runs, spec.latency_warmup
        parts.append((f"Latency: batch 1, fused, model + box decoding (no pre-processing, no NMS), median of "
                      f"{runs} runs after {warmup} warm-up runs, FP32 unless noted; {where}. FPS = 1000/latency.",
                      f"Latency: batch 1, fused, model + box decoding (no pre-processing, no NMS), median of "
                      f"{runs} runs after {warmup} warm-up runs, FP32 unless noted; {esc(where)}."))
    shaky = unreliable_note(rows)
    if shaky:
        parts.append((shaky, esc(shaky).replace(columns.UNRELIABLE, r"$^\dagger$")))
    train = (f"Every row: {spec.epochs} epochs at {spec.imgsz} px, batch {spec.batch}, the "
             f"same schedule, augmentation, evaluator and seeds ({', '.join(map(str, seeds))}); only the "
             f"backbone entry differs ({init_note(spec)}).")
    parts.append((train, esc(train)))
    memory = ("Train: wall time of the training run; Peak mem: peak resident memory of the cell's training process "
              "on CPU, torch's peak allocation on CUDA.")
    parts.append((memory, esc(memory)))
    for sentence in statistics_sentences(spec, facts) if facts is not None else ():
        parts.append((sentence, esc(sentence).replace("±", r"$\pm$").replace("Δ", r"$\Delta$")))
    from yololab.experiments.report.tuning_report import caption_sentence

    tuning = caption_sentence(spec.tune, split)
    if tuning:
        parts.append((tuning, esc(tuning)))
    parts.append(("Best value per column in bold.", "Best value per column in bold."))
    return parts


def _curves(out: Path, rows: list[CellResult]) -> dict[str, Path]:
    return {r.cell_id: out / r.cell_dir / "results.csv" for r in rows
            if r.cell_dir and (out / r.cell_dir / "results.csv").is_file()}


def make_plots(out: Path, cell_rows: list[CellResult], mean_rows: list[SummaryRow]) -> list[dict[str, Any]]:
    """Every figure as {'title', 'caption', 'png', 'svg'} (figures with no data are left out)."""
    plot_dir = out / "plots"
    devices = _latency_devices(cell_rows)
    figures = []

    def add(paths: dict[str, Path] | None, title: str, caption: str) -> None:
        if paths:
            figures.append({"title": title, "caption": caption, **paths})

    bars = (" Error bars: std over seeds." if any(r.n_seeds > 1 for r in mean_rows)
            else " One seed per entry: no error bars.")

    def front(x: columns.Column) -> str:
        if plots.front_size(mean_rows, x) > 1:
            return ("the dashed line is the Pareto front (no other model is both cheaper and more accurate); "
                    "outlined markers lie on it")
        return "one entry is the cheapest and the most accurate, so there is no front line"

    gflops = columns.column("gflops")
    add(plots.pareto_plot(mean_rows, gflops, "GFLOPs (fused, one image)", plot_dir / "map_vs_gflops",
                          "mAP50-95 vs GFLOPs"),
        "mAP50-95 vs GFLOPs", f"Accuracy against compute; {front(gflops)}.{bars}")
    for b in BACKENDS:
        x, label = columns.latency_column(b.name), b.label
        add(plots.pareto_plot(mean_rows, x, f"latency {label} ({b.unit}, batch 1)", plot_dir / f"map_vs_{x.key}",
                              f"mAP50-95 vs latency ({label})"),
            f"mAP50-95 vs latency ({label})", f"Batch-1 latency on {devices.get(b, label)}; {front(x)}, "
            f"among the reliable figures (hollow, †: unreliable, left out of the front).{bars}")
    add(plots.training_curves(_curves(out, cell_rows), plot_dir / "training_curves"),
        "Training curves", "Validation mAP50-95 and training loss per epoch of every cell, from each cell's "
        "results.csv.")
    add(plots.per_class_heatmap(mean_rows, plot_dir / "per_class_ap"),
        "Per-class AP", "AP50-95 per class (mean over seeds) for each model and backbone; the table "
        "below gives the values with class names and instance counts.")
    if figures and figures[-1]["title"] == "Per-class AP":
        figures[-1]["after_html"] = analysis_figures.per_class_table_html(mean_rows)
    from yololab.experiments.report.tuning_report import tuning_figure

    tuning = tuning_figure(out, plot_dir)
    if tuning:
        figures.append(tuning)
    figures += robustness_figures(mean_rows, plot_dir)
    figures += analysis_figures.pr_overlays(out, cell_rows, plot_dir)
    breakdown = analysis_figures.error_breakdown(cell_rows, plot_dir)
    if breakdown:
        figures.append(breakdown)
    return figures


def init_note(spec: ExperimentSpec) -> str:
    """What the Init column means for this spec (a whole-model checkpoint, or the backbone's own init)."""
    weights = spec.whole_model_weights
    if weights:
        return (f"Init: every cell starts from the whole-model checkpoint {Path(str(weights)).name}, "
                f"then trains on this data")
    return "Init: scratch = random initialisation"


GENERIC_FOLDERS = {"data", "dataset", "datasets", "annotations", "labels", "images"}


def data_set_name(data: str) -> str:
    """What the title calls the data set: its YAML's ``name``, else the file's stem, else its folder
    (skipping generic names such as 'data': '/x/shapes/data.yaml' -> 'shapes')."""
    path = Path(str(data))
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            named = (yaml.safe_load(path.read_text()) or {}).get("name")
        except (OSError, yaml.YAMLError, AttributeError):
            named = None
        if isinstance(named, str) and named.strip():
            return named.strip()
    if path.suffix and path.stem.lower() not in GENERIC_FOLDERS and not path.stem.startswith("instances_"):
        return path.stem
    folders = [part for part in (path.parent if path.suffix else path).parts[::-1] if part not in ("/", "")]
    return next((f for f in folders if f.lower() not in GENERIC_FOLDERS), folders[0] if folders else "data")


def main_table_columns(spec: ExperimentSpec, chosen: list[str] | None = None) -> list[str] | None:
    """The main table's columns: ``chosen`` (``--columns``), else the spec's ``table: {columns}``."""
    chosen = list(chosen or spec.table.columns or ()) or None
    if chosen:
        columns.check_columns(chosen, "table columns")
    return chosen


def write_report(spec: ExperimentSpec, out_dir: str | Path, rows: list[CellResult] | None = None,
                 chosen: list[str] | None = None) -> dict[str, Path]:
    """Write every table, figure and report.html of the comparison ``spec`` in ``out_dir`` from ``rows``
    (default: read from its cell folders); ``chosen`` names the main table's columns (default: the
    spec's, else ``columns.COMPACT_COLUMNS``)."""
    from yololab.experiments.report.headline import headline
    from yololab.experiments.report.html import render_html

    out = Path(out_dir)
    if rows is None:
        rows = load_rows(out, spec)
    run = read_json_if_present(out / "run.json") or {}
    if not run.get("environment"):  # rows made elsewhere: at least say what wrote the report
        run["environment"] = environment()
    cell_rows = list(rows)
    mean_rows, facts = summarise(out, cell_rows, aggregate_rows(cell_rows), spec.bootstrap)
    warnings = identical_seed_warnings(facts)
    for warning in warnings:
        LOG.warning("%s", warning)
    names = main_table_columns(spec, chosen)
    scoring = scoring_notes(spec, cell_rows, names)
    notes = [*scoring, *seeds_notes(facts), *robustness_note(mean_rows)]
    protocol = read_json_if_present(out / "protocol.json")
    data_name = data_set_name(spec.data or "data")
    lines = headline(mean_rows)
    parts = caption_parts(spec, cell_rows, data_name, facts)
    caption, caption_tex = " ".join(p for p, _ in parts), " ".join(t for _, t in parts)
    name = tables.tex_escape(spec.name).replace("\\_", "-")

    paths = {"csv": out / "results.csv", "json": out / "results.json", "md": out / "results.md",
             "tex": out / "results.tex", "tex_full": out / "results_full.tex", "per_class": out / "per_class.csv",
             "html": out / "report.html"}
    all_rows = [*cell_rows, *mean_rows]
    write_csv(paths["csv"], all_rows)
    write_per_class_csv(paths["per_class"], all_rows)
    atomic_write_text(paths["json"], results_json(
        all_rows, caption=caption, spec=spec.to_dict(), run=run,
        statistics={**dataclasses.asdict(facts), "warnings": warnings, "notes": notes, "headline": lines}, protocol=protocol), out)
    atomic_write_text(paths["md"], tables.markdown_report(cell_rows, mean_rows, caption, warnings, notes, lines,
                                                          names), out)
    atomic_write_text(paths["tex"], tables.latex_document(cell_rows, mean_rows, caption_tex, name, names,
                                                          [tables.tex_cell(n) for n in scoring]), out)
    atomic_write_text(paths["tex_full"], tables.latex_full_document(cell_rows, mean_rows, caption_tex, name), out)
    figures = make_plots(out, cell_rows, mean_rows)
    atomic_write_text(paths["html"], render_html(cell_rows, mean_rows, figures, caption, spec, run, warnings, notes,
                                                 protocol, headline=lines, chosen=names), out)
    LOG.info("report: %s (tables results.{csv,json,md,tex}, results_full.tex, %d figures in plots/)", paths["html"],
             len(figures))
    return paths
