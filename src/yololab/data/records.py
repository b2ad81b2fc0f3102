"""``ImageRecord`` lists from YOLO-format splits: list, check (cached), clean, report once."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from yololab.data import cache as cache_mod
from yololab.data.checks import EMPTY_LABELS, apply_class_check, scan_item
from yololab.data.report import DatasetReport
from yololab.data.formats.yolo_format import (
    DataConfig,
    PathLike,
    SplitSpec,
    image_to_label_path,
    label_dir_for,
    list_split,
    load_data_config,
)


@dataclass
class ImageRecord:
    """One usable image: true size (after EXIF orientation) and float32 (n, 5) [cls, cx, cy, w, h] labels;
    the file's ``channels`` and ``bits`` per sample and the ``dtype`` it decodes to (None: not checked)."""

    path: str
    width: int
    height: int
    labels: np.ndarray = field(default_factory=lambda: EMPTY_LABELS.copy())
    label_path: str | None = None
    image_id: int | str | None = None  # set by the COCO loader (original image id)
    channels: int | None = None
    bits: int | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32).reshape(-1, 5)


def cache_path_for(spec: PathLike) -> Path:
    """Preferred cache file of one split entry: ``labels/<split>.yololab-cache.json`` or next to a .txt list."""
    p = Path(spec).resolve()
    if p.is_dir():
        lab = label_dir_for(p)
        return lab.parent / f"{lab.name}{cache_mod.CACHE_SUFFIX}"
    return p.with_name(p.stem + cache_mod.CACHE_SUFFIX)


def _scan_all(pairs: list[tuple[str, str]], workers: int) -> list[dict]:
    """Run :func:`scan_item` over (image, label) pairs, threaded, with a progress bar for large splits."""
    if workers <= 1 or len(pairs) < 64:
        return [scan_item(i, lab) for i, lab in pairs]
    with ThreadPoolExecutor(workers) as ex:
        it = ex.map(lambda p: scan_item(*p), pairs, chunksize=16)
        return list(tqdm(it, total=len(pairs), desc="checking labels", disable=len(pairs) < 2000, leave=False))


def _scan_with_cache(pairs: list[tuple[str, str]], spec: Path, use_cache: bool, workers: int) -> list[dict]:
    """Scan results for ``pairs``, reusing cached ones whose files are unchanged; refresh the cache."""
    sigs = [cache_mod.item_signature(i, lab) for i, lab in pairs]
    cached: dict = {}
    if use_cache:
        data, _ = cache_mod.load_cache(cache_path_for(spec))
        cached = data["items"] if data else {}
    results: list[dict | None] = []
    todo = []
    for k, ((img, lab), sig) in enumerate(zip(pairs, sigs)):
        hit = cached.get(img)
        if hit is not None and hit.get("sig") == sig and hit.get("label_path") == lab:
            results.append(hit["result"])
        else:
            results.append(None)
            todo.append(k)
    if todo:
        for k, res in zip(todo, _scan_all([pairs[k] for k in todo], workers)):
            results[k] = res
    if use_cache and (todo or len(cached) != len(pairs)):
        items = {img: {"sig": sig, "label_path": lab, "result": res}
                 for (img, lab), sig, res in zip(pairs, sigs, results)}
        cache_mod.save_cache(cache_path_for(spec), items)
    return results  # type: ignore[return-value]


def _orphan_labels(spec: Path, expected: set[str]) -> list[str]:
    """Label files under the labels folder mirroring ``spec`` that belong to no image of the split."""
    if not spec.is_dir():
        return []
    lab_dir = label_dir_for(spec)
    if lab_dir == spec or not lab_dir.is_dir():
        return []
    found = (os.path.join(r, f) for r, _, fs in os.walk(lab_dir) for f in fs if f.endswith(".txt"))
    return sorted(f for f in found if os.path.normpath(f) not in expected)


def _count_lines(path: str) -> int:
    """Non-blank lines of a text file (0 if unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0


def _list_pairs(specs: list[Path], report: DatasetReport,
                root: PathLike | None = None) -> list[tuple[Path, list[tuple[str, str]]]]:
    """Per split entry, its (absolute image path, label path) pairs; duplicates and non-images counted;
    ``root``: the folder .txt list lines must stay in."""
    seen: set[str] = set()
    per_spec = []
    for spec in specs:
        images, others = list_split(spec, root)
        for o in others:
            report.add("unsupported_file", 1, o.name)
        pairs = []
        for im in images:
            key = os.path.normpath(os.path.abspath(im))
            if key in seen:
                report.add("duplicate_image", 1, im.name)
                continue
            seen.add(key)
            pairs.append((key, os.path.normpath(os.path.abspath(image_to_label_path(key)))))
        per_spec.append((spec, pairs))
    report.images_listed = len(seen)
    return per_spec


def _to_record(img: str, lab: str, res: dict, nc: int | None, report: DatasetReport) -> ImageRecord | None:
    """A scan result -> record (None if the image is unusable), counting its problems into ``report``."""
    base, lab_name = os.path.basename(img), os.path.basename(lab)
    if res["status"] != "ok":
        report.add(res["status"], 1, f"{base} ({res['note']})")
        return None
    for kind, n in res["counts"].items():
        detail = res.get("notes", {}).get(kind)
        report.add(kind, n, f"{lab_name} ({detail})" if detail else lab_name)
    if res["label"] == "missing":
        report.add("missing_label", 1, base)
    elif res["label"] == "empty":
        report.add("empty_label", 1, lab_name)
    raw = np.asarray(res["labels"], dtype=np.float32).reshape(-1, 5)
    labels, dropped = apply_class_check(raw, nc)
    if dropped:
        bad = sorted({int(c) for c in set(raw[:, 0].tolist()) - set(labels[:, 0].tolist())})
        limit = "" if nc is None else f", nc={nc}"
        report.add("class_out_of_range", dropped, f"{lab_name} (class {', '.join(map(str, bad[:3]))}{limit})")
    report.add_pixels(int(res.get("channels", 3)), int(res.get("bits", 8)))
    return ImageRecord(img, int(res["width"]), int(res["height"]), labels, lab if res["label"] != "missing" else None,
                       channels=res.get("channels"), bits=res.get("bits"), dtype=res.get("dtype"))


def load_records(split_spec: SplitSpec, names: Sequence[str] | int | None = None, *, cache: bool = True,
                 workers: int | None = None, name: str | None = None,
                 log: bool = True, root: PathLike | None = None) -> tuple[list[ImageRecord], DatasetReport]:
    """Load, check and clean a YOLO-format split -> (records sorted by path, report).

    ``split_spec`` is a folder, a .txt list of images or a list of those. ``names`` (or the class count)
    enables the class-id check. Unusable images are skipped, bad boxes dropped, and everything is counted
    in the returned :class:`DatasetReport`, which is logged once (``log=False`` to silence it).
    ``root``: the data root every .txt list line must stay in (None: not checked).
    """
    specs = [Path(split_spec)] if isinstance(split_spec, (str, os.PathLike)) else [Path(s) for s in split_spec]
    nc = names if isinstance(names, int) or names is None else len(names)
    workers = workers if workers is not None else min(8, os.cpu_count() or 1)
    report = DatasetReport()
    per_spec = _list_pairs(specs, report, root)
    if not report.images_listed:
        raise FileNotFoundError(f"no images found in {', '.join(map(str, specs))}")
    label_users = Counter(lab for _, pairs in per_spec for _, lab in pairs)
    records: list[ImageRecord] = []
    for spec, pairs in per_spec:
        results = _scan_with_cache(pairs, spec, cache, workers)
        for lab in _orphan_labels(spec, {lab for _, lab in pairs}):
            report.add("orphan_label", 1, os.path.basename(lab))
            report.orphan_boxes += _count_lines(lab)
        for (img, lab), res in zip(pairs, results):
            if label_users[lab] > 1:
                report.add("label_conflict", 1, os.path.basename(img))
            rec = _to_record(img, lab, res, nc, report)
            if rec is not None:
                records.append(rec)
    records.sort(key=lambda r: r.path)
    report.images = len(records)
    report.boxes = int(sum(len(r.labels) for r in records))
    report.backgrounds = sum(1 for r in records if not len(r.labels))
    if log:
        report.log(name or ", ".join(str(s) for s in specs))
    return records, report


def load_split(config: DataConfig | PathLike, split: str = "val", *, cache: bool = True,
               log: bool = True) -> tuple[list[ImageRecord], DatasetReport]:
    """Records of one split ('train', 'val', 'test') of a data YAML or :class:`DataConfig`."""
    cfg = config if isinstance(config, DataConfig) else load_data_config(config)
    where = f"{cfg.yaml_path.name if cfg.yaml_path else 'data'}:{split}"
    return load_records(cfg.split(split), cfg.names, cache=cache, name=where, log=log, root=cfg.list_root)
