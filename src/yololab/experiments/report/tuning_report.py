"""Tuning in the report: the row columns, protocol.json's studies, the caption sentence and the figure.

The figure shows, per entry, the best val objective after each finished trial and the expected
maximum over n trials (Dodge et al. 2019, "Show your work"): with the k complete trials' values sorted
v_1 <= ... <= v_k, E[max of n draws] = sum_i v_i ((i/k)^n - ((i-1)/k)^n), the budget curve a reader
needs to judge whether a ranking could flip with more tuning.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from yololab.experiments.results.records import Tuning
from yololab.jsonfile import read_json_if_present, write_json
from yololab.experiments.tuning.apply import load_studies, values_text
from yololab.experiments.tuning.records import EntryKey, StudyResult
from yololab.experiments.plan.tune_space import TuneSpec
from yololab.experiments.tuning.study import TuningResult

def record_studies(out: Path, result: TuningResult) -> None:
    """protocol.json gains each entry's study (budget spent, best trial, chosen values)."""
    path = Path(out) / "protocol.json"
    protocol = read_json_if_present(path) or {}
    protocol["tuning"] = {"storage": result.storage,
                          "studies": [{k: v for k, v in s.describe().items() if k != "trials"}
                                      for s in result.studies]}
    write_json(path, protocol)


def tuning_columns(out: Path) -> dict[EntryKey, Tuning]:
    """Per entry how it was tuned ({} for a folder that was not)."""
    return {s.key: Tuning(tuned=values_text(s.params) or "–", tune_trials=s.finished, tune_pruned=s.count("pruned"),
                          tune_failed=s.count("failed"), tune_epochs=s.epochs, tune_seconds=s.seconds,
                          tune_device=s.device_kind, tune_best_val=s.best_value)
            for s in load_studies(out)}


def caption_sentence(tune: TuneSpec | None, score_split: str) -> str | None:
    """How the rows were tuned; with no test split, that tuning, selection and scoring shared val."""
    if tune is None:
        return None
    space = ", ".join(tune.space or {})
    text = (f"Every entry was tuned with the same budget before its seeds: {tune.trials} trials of "
            f"{tune.epochs} epoch(s) ({tune.sampler.upper()} sampler, seed {tune.seed}; "
            f"{tune.pruner.replace('_', ' ')} pruning on the per-epoch val {tune.objective}) over {space}, "
            f"trained on train and chosen on val; Tuned: the chosen values; Tuning (min): the wall time "
            f"of the entry's trials.")
    if score_split == "val":
        text += (" Tuning, selection and scoring all used val (optimistic: the chosen values fit val); "
                 "add a test split to score on images the tuning never saw.")
    else:
        text += f" The {score_split} split was never read while tuning."
    return text


def expected_max(values: list[float], n: int) -> float:
    """Expected maximum of ``n`` draws (with replacement) from ``values`` (Dodge et al. 2019)."""
    v = sorted(values)
    k = len(v)
    return sum(x * ((i / k) ** n - ((i - 1) / k) ** n) for i, x in enumerate(v, 1))


def tuning_figure(out: Path, plot_dir: Path) -> dict[str, Any] | None:
    """Best-so-far and expected-max val objective against trials, one line per entry; the chosen values
    as a table below it."""
    studies = load_studies(out)
    if not studies:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from yololab.experiments.report.plots import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, s in enumerate(studies):
        color = f"C{i}"
        label = f"{s.key.model} {s.key.label}"
        best, xs, ys = None, [], []
        finished = [t for t in s.trials if t.state != "failed"]
        for n, t in enumerate(finished, 1):
            if t.state == "complete" and t.value is not None:
                best = t.value if best is None else max(best, t.value)
            if best is not None:
                xs.append(n)
                ys.append(100 * best)
        ax.step(xs, ys, where="post", color=color, label=f"{label}: best so far")
        complete = [t.value for t in finished if t.state == "complete" and t.value is not None]
        if complete:
            ns = list(range(1, len(finished) + 1))
            ax.plot(ns, [100 * expected_max(complete, n) for n in ns], "--", color=color,
                    label=f"{label}: expected max")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trials (finished)")
    ax.set_ylabel("val objective (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    paths = save_figure(fig, plot_dir / "tuning_budget")
    plt.close(fig)
    return {"title": "Tuning budget", "caption": "Best val objective after each finished trial (solid) and the "
            "expected maximum over n trials (dashed; Dodge et al. 2019, from the complete trials), per entry: "
            "where the curves still rise, a larger budget could change the ranking.",
            **paths, "after_html": chosen_values_html(studies)}


def chosen_values_html(studies: list[StudyResult]) -> str:
    names = sorted({k for s in studies for k in s.params})
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["entry", *names, "best val", "trials", "pruned", "failed"])
    body = []
    for s in studies:
        chosen = s.params
        cells = [f"{s.key.model} {s.key.label}"] + [
            f"{chosen[n]:.3g}" if isinstance(chosen.get(n), float) else str(chosen.get(n, "–")) for n in names]
        value = "–" if s.best_value is None else f"{100 * s.best_value:.1f}"
        cells += [value, str(s.finished), str(s.count("pruned")), str(s.count("failed"))]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table class='tuning'><tr>{head}</tr>{''.join(body)}</table>"
