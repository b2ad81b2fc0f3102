"""The report's headline: one sentence per comparison, read from the summary rows' fields.

"yolov5n timm:resnet18 vs cspdarknet: +9.5 points [+6.2, +13.1], significant after Holm (p 0.004)",
"... no detectable difference (+0.4 points [-1.0, +1.8]); about 12 seeds would be needed to detect a
1-point difference" (``seeds_needed``, the summary's power figure for 1 point), or with one
seed "... one seed: no test". Values are fractions (0.01 = 1 point), as everywhere in the rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from yololab.experiments.results.records import SummaryRow


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def points(value: float) -> str:
    """A difference in mAP points, signed: 0.095 -> '+9.5'."""
    return f"{100 * value:+.1f}"


def _p(row: SummaryRow) -> str:
    p = _number(row.comparison.p_holm)
    return "" if p is None else (" (p_Holm < 0.001)" if p < 0.001 else f" (p_Holm {p:.3f})")


def comparison_sentence(row: SummaryRow) -> str | None:
    """The headline of one summary row against its reference; None for the reference itself."""
    c = row.comparison
    if c.is_reference or not c.reference:
        return None
    name = f"{row.entry.model} {row.entry.label} vs {c.reference}"
    delta = _number(c.delta)
    if delta is None:
        return f"{name}: no paired result (no seed finished for both)."
    lo, hi = (_number(v) for v in c.delta_ci95) if c.delta_ci95 else (None, None)
    shown = f"{points(delta)} points" + (f" [{points(lo)}, {points(hi)}]" if lo is not None and hi is not None else "")
    seeds = c.paired_seeds if c.paired_seeds is not None else row.n_seeds
    if isinstance(seeds, int) and seeds <= 1 and c.p_value is None:
        return f"{name}: {shown} over the test images; one seed: no test."
    if isinstance(seeds, int) and seeds <= 1 and c.significant is False:  # one checkpoint scored two ways
        return f"{name}: no detectable difference on these test images ({shown}{_p(row)})."
    if c.significant is True:
        return f"{name}: {shown}, significant after Holm{_p(row)}."
    if c.significant is None:
        why = c.method or "no saved detections or too few paired seeds"
        return f"{name}: {shown}; " + (f"{why}." if "no test" in why else f"no test ({why}).")
    need = c.seeds_needed
    if c.more_seeds_cannot_help:
        more = "more seeds cannot help (the test-set spread dominates: a larger test set would)"
    elif isinstance(need, int) and not isinstance(need, bool):
        more = f"about {need} seeds would be needed to detect a 1-point difference"
    else:
        more = "more seeds would be needed"
    return f"{name}: no detectable difference ({shown}{_p(row)}); {more}."


def headline(mean_rows: Sequence[SummaryRow]) -> list[str]:
    """One sentence per comparison in the table, in row order."""
    return [s for s in (comparison_sentence(r) for r in mean_rows) if s]
