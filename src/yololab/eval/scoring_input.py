"""Strict scoring input: COCO ground truth and detections checked once, before any evaluator sees them.

COCOeval scores a box of negative size, NaN coordinates or an infinite score without a word, and
dies on a bbox of 3 numbers (IndexError), a string score (TypeError) or a record without a bbox
(KeyError). Here every bad record is counted and the first ones named in one :class:`ScoringInputError`.

Rules: a ground-truth box needs 4 finite numbers with width and height > 0; a detection needs
``image_id``, ``category_id``, 4 finite numbers with width and height >= 0 (a box clipped to nothing at
the image border can only be a false positive, as COCO scores it) and a finite numeric ``score``.
:func:`check_results` applies both and refuses results whose image or category ids the ground truth
does not have.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from yololab.errors import DataError

SHOWN = 5  # offenders named in the message


class ScoringInputError(DataError):
    """Ground truth or detections that cannot be scored; the message counts and names the offenders."""


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _box_problem(bbox: Any, min_size_ok: bool) -> str | None:
    if bbox is None:
        return "has no bbox"
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        n = len(bbox) if isinstance(bbox, (list, tuple)) else type(bbox).__name__
        return f"bbox {bbox!r} is not 4 numbers (got {n})"
    if not all(_number(v) for v in bbox):
        return f"bbox {bbox!r} holds a value that is not a number"
    if not all(math.isfinite(v) for v in bbox):
        return f"bbox {bbox!r} is not finite"
    w, h = bbox[2], bbox[3]
    if (w < 0 or h < 0) if min_size_ok else (w <= 0 or h <= 0):
        return f"bbox {bbox!r} has a {'negative' if min_size_ok else 'non-positive'} width or height"
    return None


def _record_problem(r: Any, kind: str) -> str | None:
    """Not a dict, or without its image and category ids."""
    if not isinstance(r, dict):
        return f"is a {type(r).__name__}, not {kind}"
    missing = [k for k in ("image_id", "category_id") if k not in r]
    return f"has no {' or '.join(missing)}" if missing else None


def _detection_problem(d: Any) -> str | None:
    problem = _record_problem(d, "a result dict") or _box_problem(d.get("bbox"), min_size_ok=True)
    if problem:
        return problem
    score = d.get("score")
    if not _number(score):
        return f"score {score!r} is not a number"
    if not math.isfinite(score):
        return f"score {score!r} is not finite"
    return None


def _gt_problem(a: Any) -> str | None:
    return _record_problem(a, "an annotation dict") or _box_problem(a.get("bbox"), min_size_ok=False)


def _refuse(records: Iterable[Any], check, what: str, where: str, fix: str) -> None:
    records = list(records)
    bad = [(i, p) for i, p in ((i, check(r)) for i, r in enumerate(records)) if p]
    if bad:
        shown = "; ".join(f"#{i} {p}" for i, p in bad[:SHOWN]) + ("; ..." if len(bad) > SHOWN else "")
        place = f" in {where}" if where else ""
        raise ScoringInputError(f"{len(bad)} of {len(records)} {what}{place} cannot be scored ({shown}); {fix}")


def validate_ground_truth(gt: Any, where: str = "") -> None:
    """Refuse a COCO ground-truth dict with malformed parts or invalid annotations."""
    if not isinstance(gt, dict) or not isinstance(gt.get("images"), list) \
            or not isinstance(gt.get("categories"), list) or not isinstance(gt.get("annotations", []), list):
        raise ScoringInputError(f"the ground truth{' ' + where if where else ''} is not a COCO annotation dict "
                                f"(images, annotations and categories lists)")
    _refuse(gt["images"], lambda im: None if isinstance(im, dict) and "id" in im else "has no id", "ground-truth images",
            where, "fix the file")
    _refuse(gt.get("annotations", []), _gt_problem, "ground-truth annotations", where,
            "fix or remove them (COCO scores a box of no size against nothing)")


def validate_detections(dt: Any, where: str = "") -> None:
    """Refuse COCO results that are not a list of valid result dicts."""
    if not isinstance(dt, list):
        raise ScoringInputError(f"detections{' in ' + where if where else ''} must be a list of COCO result dicts, "
                                f"got a {type(dt).__name__}")
    _refuse(dt, _detection_problem, "detections", where, "fix or remove them before scoring")


def _unknown(values: Sequence[Any], known: set, what: str, where: str) -> str | None:
    missing = sorted({v for v in values if v not in known}, key=str)
    if not missing:
        return None
    shown = ", ".join(map(repr, missing[:5])) + (", ..." if len(missing) > 5 else "")
    return f"{len(missing)} {what} are not in the {where}, e.g. [{shown}]"


def check_results(gt: dict, dt: Any) -> None:
    """Refuse results that cannot be scored against ``gt``: invalid ground truth or detections (a
    :class:`ScoringInputError`), or image or category ids the ground truth does not have (a ValueError:
    COCOeval would silently score those categories 0). Every scorer calls this once."""
    validate_ground_truth(gt)
    validate_detections(dt)
    problems = [
        _unknown([d.get("image_id") for d in dt], {im["id"] for im in gt.get("images", [])}, "image ids",
                 "ground truth"),
        _unknown([d.get("category_id") for d in dt], {c["id"] for c in gt.get("categories", [])},
                 "category ids", "ground truth categories"),
    ]
    problems = [p for p in problems if p]
    if problems:
        raise ValueError("the results do not belong to this ground truth: " + "; ".join(problems)
                         + " (were they written for another annotation file, or with class indices "
                           "instead of its category ids?)")
