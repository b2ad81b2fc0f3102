"""Per-image checks: validate an image file and parse/clean its YOLO label file.

Results are plain JSON-able dicts so that they can be cached (see :mod:`yololab.data.cache`).
Class ids are checked later (:func:`apply_class_check`) since they depend on the names list.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from yololab.data.imaging.images import ImageCheckError, check_image_info
from yololab.data.imaging.rawpixels import ImageInfo
from yololab.data.report import DatasetReport

#: Coordinates more than this outside [0, 1] mean the label is not normalised: the box is dropped.
RANGE_TOLERANCE = 0.01
#: Box edges past the image border by more than this are counted as clipped (less is rounding noise).
CLIP_REPORT_EPS = 1e-4

EMPTY_LABELS = np.zeros((0, 5), dtype=np.float32)


def clean_box(vals: list[float]) -> tuple[str, list[float] | None]:
    """[cls, cx, cy, w, h] (or a polygon ``cls x1 y1 ...``), normalised -> (kind, box clipped to the image).

    kind is '' (fine), 'clipped', 'polygon', or the problem that drops the box ('malformed_line' for a
    non-integer class, 'out_of_range', 'degenerate_box'), in which case the box is None.
    """
    cls = vals[0]
    if cls != math.floor(cls):
        return "malformed_line", None
    coords = vals[1:]
    lo, hi = -RANGE_TOLERANCE, 1.0 + RANGE_TOLERANCE
    if any(v < lo or v > hi for v in coords):
        return "out_of_range", None
    if len(vals) == 5:
        cx, cy, w, h = coords
        if w <= 0 or h <= 0:
            return "degenerate_box", None
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        kind = ""
    else:  # polygon: cls x1 y1 x2 y2 ... -> its bounding box
        xs, ys = coords[0::2], coords[1::2]
        x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        kind = "polygon"
    over = max(-x1, -y1, x2 - 1.0, y2 - 1.0)
    x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return "degenerate_box", None
    if over > CLIP_REPORT_EPS and kind == "":
        kind = "clipped"
    return kind, [cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def parse_label_text(text: str) -> tuple[np.ndarray, dict[str, int], dict[str, str]]:
    """Parse YOLO label text -> (float32 (n, 5) [cls, cx, cy, w, h], problem counts, first note per problem).

    Malformed lines, non-normalised and zero-size boxes are dropped; boxes past the border are clipped;
    exact duplicate rows are removed (first kept). Polygon lines (``cls x1 y1 x2 y2 ...``) become boxes.
    """
    counts: dict[str, int] = {}
    notes: dict[str, str] = {}
    rows: list[list[float]] = []

    def bump(kind: str, lineno: int, detail: str) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        notes.setdefault(kind, f"line {lineno}: {detail}")

    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            vals = [float(x) for x in parts]
        except ValueError:
            bump("malformed_line", lineno, f"not numbers {line.strip()[:30]!r}")
            continue
        n = len(vals)
        if not all(map(math.isfinite, vals)) or not (n == 5 or (n >= 7 and n % 2 == 1)):
            bump("malformed_line", lineno, f"{n} values {line.strip()[:30]!r}")
            continue
        kind, box = clean_box(vals)
        if box is None:
            bump(kind, lineno, repr(line.strip()[:30]))
            continue
        if kind == "polygon":
            counts["polygon_converted"] = counts.get("polygon_converted", 0) + 1
        elif kind == "clipped":
            bump("clipped", lineno, repr(line.strip()[:30]))
        rows.append(box)
    if not rows:
        return EMPTY_LABELS.copy(), counts, notes
    arr = np.asarray(rows, dtype=np.float32)
    _, first = np.unique(arr, axis=0, return_index=True)
    if len(first) < len(arr):
        counts["duplicate_box"] = len(arr) - len(first)
        notes["duplicate_box"] = f"{len(arr) - len(first)} repeated rows"
        arr = arr[np.sort(first)]
    return arr, counts, notes


def scan_item(image_path: str, label_path: str) -> dict:
    """Check one image and parse its label file -> a JSON-able result dict.

    Keys: ``status`` ('ok' or the kind that made the image unusable), ``width``, ``height``, ``channels``,
    ``bits`` and ``dtype`` (stored samples and what they decode to), ``labels``
    (list of rows), ``label`` ('found', 'missing' or 'empty'), ``counts`` (problem kind -> n), ``notes``
    (problem kind -> first detail) and ``note`` (why the image is unusable).
    """
    out: dict = {"status": "ok", "width": 0, "height": 0, "channels": 3, "bits": 8, "dtype": "uint8",
                 "labels": [], "label": "missing", "counts": {},
                 "notes": {}, "note": ""}
    if not os.path.isfile(image_path):
        out.update(status="missing_image", note="image file does not exist")
        return out
    try:
        info = check_image_info(image_path)
        out.update(width=info.width, height=info.height, channels=info.channels, bits=info.bits, dtype=info.dtype)
    except ImageCheckError as e:
        out.update(status=e.kind, note=str(e))
        return out
    if not os.path.exists(label_path):
        return out
    try:
        text = Path(label_path).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        out.update(status="corrupt_label", note=f"unreadable label file ({type(e).__name__})")
        return out
    labels, counts, notes = parse_label_text(text)
    out.update(labels=labels.tolist(), counts=counts, notes=notes)
    out["label"] = "found" if text.strip() else "empty"
    return out


def apply_class_check(labels: np.ndarray, nc: int | None) -> tuple[np.ndarray, int]:
    """Drop rows whose class id is negative or >= ``nc`` (when given) -> (kept rows, number dropped)."""
    if not len(labels):
        return labels, 0
    ok = labels[:, 0] >= 0
    if nc is not None:
        ok &= labels[:, 0] < nc
    return labels[ok], int((~ok).sum())


#: How far the two scale factors of a resized image may differ (relative) and still count as a resize.
ASPECT_TOLERANCE = 0.01


def check_image_file(path: str) -> tuple[str, tuple[int, int] | None, str]:
    """(status, (width, height) or None, note) of one image file: 'ok', 'missing_image' or a check kind."""
    status, info, note = check_image_file_info(path)
    return status, None if info is None else (info.width, info.height), note


def check_image_file_info(path: str) -> tuple[str, ImageInfo | None, str]:
    """:func:`check_image_file` with the header's channel count, bits and decoded sample type."""
    if not os.path.isfile(path):
        return "missing_image", None, "image file does not exist"
    try:
        return "ok", check_image_info(path), ""
    except ImageCheckError as e:
        return e.kind, None, str(e)


def frame_decision(real: tuple[int, int], listed: tuple[int, int]) -> str:
    """'ok', 'rescale' (the file is the listed image resized: boxes follow) or 'refuse' (another aspect)."""
    if real == listed:
        return "ok"
    sx, sy = real[0] / listed[0], real[1] / listed[1]
    return "rescale" if abs(sx - sy) <= ASPECT_TOLERANCE * max(sx, sy) else "refuse"


def report_frame(report: DatasetReport, name: str, real: tuple[int, int], listed: tuple[int, int],
                 source: str) -> bool:
    """Count a size mismatch between an image file and its annotation (``source``: 'JSON', 'XML');
    False when the image must be skipped (another aspect ratio), True when it can be used."""
    decision = frame_decision(real, listed)
    if decision != "ok":
        detail = f"{name} (file {real[0]}x{real[1]}, {source} {listed[0]}x{listed[1]})"
        report.add("size_mismatch" if decision == "rescale" else "size_refused", 1, detail)
    return decision != "refuse"
