"""``yololab convert``: VOC / COCO / YOLO data sets -> a self-contained YOLO or COCO data set.

The source is read by the same checked loaders as training (every problem counted in its report).
The output holds ``images/<split>/`` (links to the source images, or copies) and either
``labels/<split>/*.txt`` + ``data.yaml`` (YOLO) or ``annotations/instances_<split>.json`` (COCO);
it is then read back by the loaders, whose reports are the printed summary.

Decisions: YOLO labels are written with 6 significant digits (``%g``, as upstream writes them), so YOLO -> COCO ->
YOLO gives the same numbers up to float rounding. COCO category ids are the class indices, as
yololab's YOLO-format ground truth numbers them (a COCO source keeps its own ids); image ids are
``int(stem)`` when all stems are numeric and unique, else 1-based positions. VOC difficult objects
become crowd regions (``iscrowd: 1, difficult: 1``) in COCO output, as the evaluator scores them;
in YOLO output they follow ``voc_difficult`` (default drop). A COCO JSON is one split: ``split``
(default ``train`` when its file name says so, else ``val``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from yololab.atomic import atomic_write, atomic_write_text, check_target
from yololab.data.formats.coco_format import load_coco_records
from yololab.data.imaging.pixels import PixelSpec
from yololab.data.records import ImageRecord
from yololab.data.report import DatasetReport
from yololab.data.source import open_split
from yololab.data.formats.voc_format import DIFFICULT_MODES, load_voc_config, load_voc_split
from yololab.errors import DataError, UserError

LOG = logging.getLogger("yololab")

SOURCE_FORMATS = ("voc", "coco", "yolo")
TARGET_FORMATS = ("yolo", "coco")
SPLITS = ("train", "val", "test")


@dataclass
class SourceSplit:
    """One split of the source: checked records, names, the source's report and, for COCO and VOC,
    its COCO ground truth and category ids (None: built from the labels)."""

    records: list[ImageRecord]
    names: list[str]
    report: DatasetReport
    gt: dict[str, Any] | None = None
    category_ids: list[int] | None = None
    pixels: PixelSpec = PixelSpec()  # the source's channels and normalisation (a data YAML's; else default)


@dataclass
class ConvertResult:
    """Where the output went and the reports of reading it back, per split."""

    out: Path
    data: Path  # data.yaml (YOLO) or the annotations folder (COCO)
    splits: dict[str, DatasetReport] = field(default_factory=dict)
    source_reports: dict[str, DatasetReport] = field(default_factory=dict)


def _coco_split_name(path: Path) -> str:
    return "train" if "train" in path.stem.lower() else "val"


def read_source(fmt: str, src: str | os.PathLike, *, image_dir: str | os.PathLike | None = None,
                split: str | None = None, voc_difficult: str | None = None) -> dict[str, SourceSplit]:
    """The source data set's splits, read and checked by yololab's loaders."""
    src = Path(src)
    if fmt == "voc":
        cfg = load_voc_config(src)
        if voc_difficult is not None:
            if voc_difficult not in DIFFICULT_MODES:
                raise ValueError(f"voc_difficult must be one of {DIFFICULT_MODES}, got {voc_difficult!r}")
            cfg.difficult = voc_difficult
        names = cfg.class_names()
        out = {}
        for s in cfg.splits:
            voc = load_voc_split(cfg, s, names=names)
            out[s] = SourceSplit(voc.records, voc.names, voc.report, voc.gt, list(range(len(names))), cfg.pixels)
        return out
    if fmt == "coco":
        if image_dir is None:
            raise ValueError(f"--from coco {src}: also give --image-dir (the folder of its images)")
        coco = load_coco_records(src, image_dir)
        name = split or _coco_split_name(src)
        return {name: SourceSplit(coco.records, coco.names, coco.report, coco.gt, coco.category_ids)}
    if fmt == "yolo":
        found = {}
        for s in SPLITS:
            try:
                ds = open_split(src, s)
            except KeyError:
                continue  # the YAML has no such split
            found[s] = SourceSplit(ds.records, ds.names, ds.report, pixels=ds.pixels)
        return found
    raise ValueError(f"unknown source format {fmt!r} (one of {SOURCE_FORMATS})")


def _image_ids(paths: list[str]) -> list[int]:
    stems = [Path(p).stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return list(range(1, len(stems) + 1))


def _place_images(records: list[ImageRecord], folder: Path, copy: bool) -> list[Path]:
    """Link (or copy) the split's images into ``folder``; refuses two images with one file name."""
    folder.mkdir(parents=True, exist_ok=True)
    by_name: dict[str, str] = {}
    for r in records:
        name = Path(r.path).name
        if name in by_name:
            raise ValueError(f"two images of one split share the file name {name}: {by_name[name]} and {r.path}")
        by_name[name] = r.path
    placed = []
    for name, path in by_name.items():
        dst = check_target(folder / name, folder)
        if copy:
            with open(path, "rb") as src:
                atomic_write(dst, lambda handle, src=src: shutil.copyfileobj(src, handle), folder)
            shutil.copystat(path, dst)
        else:
            dst.symlink_to(Path(path).resolve())
        placed.append(dst)
    return placed


def write_yolo_labels(records: list[ImageRecord], folder: Path) -> None:
    """One ``<stem>.txt`` per image (empty for a background image), 6 significant digits as upstream writes."""
    for r in records:
        lines = [f"{int(c)} {cx:.6g} {cy:.6g} {w:.6g} {h:.6g}\n" for c, cx, cy, w, h in r.labels.tolist()]
        atomic_write_text(folder / f"{Path(r.path).stem}.txt", "".join(lines), folder)


def coco_from_source(part: SourceSplit) -> dict[str, Any]:
    """A COCO detection dict of the split's usable images, file names as placed in ``images/<split>/``."""
    recs = part.records
    if part.gt is not None:
        listed = {im["id"]: im for im in part.gt["images"]}
        keep = {r.image_id for r in recs}
        images = [{"id": r.image_id, "file_name": Path(r.path).name,
                   "width": listed[r.image_id].get("width") or r.width,
                   "height": listed[r.image_id].get("height") or r.height} for r in recs]
        anns = [a for a in part.gt["annotations"] if a["image_id"] in keep]
        return {"info": {}, "licenses": [], "images": images, "annotations": anns,
                "categories": part.gt["categories"]}
    images, anns = [], []
    for iid, r in zip(_image_ids([r.path for r in recs]), recs):
        images.append({"id": iid, "file_name": Path(r.path).name, "width": r.width, "height": r.height})
        for c, cx, cy, w, h in np.asarray(r.labels, np.float64).tolist():
            bw, bh = w * r.width, h * r.height
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": int(c),
                         "bbox": [(cx - w / 2) * r.width, (cy - h / 2) * r.height, bw, bh],
                         "area": bw * bh, "iscrowd": 0})
    categories = [{"id": i, "name": n, "supercategory": ""} for i, n in enumerate(part.names)]
    return {"info": {}, "licenses": [], "images": images, "annotations": anns, "categories": categories}


def _refuse_output_over_inputs(out: Path, src: str | os.PathLike, images: list[str]) -> None:
    """The output folder may not be the source, nor hold the source or any of its images."""
    top = out.resolve()

    def within(path: str | os.PathLike) -> bool:  # a linked file counts where the link is
        folder = Path(os.path.abspath(path)).parent.resolve()
        return folder == top or top in folder.parents

    inside = [p for p in images if within(p)]
    if Path(src).resolve() == top or within(src) or inside:
        what = f"the image {inside[0]}" if inside else f"the source {src}"
        raise UserError(f"convert output {out} holds {what}; choose a new folder outside the source")


def _empty_dir(out: Path) -> bool:
    """Make ``out`` a new empty folder (or check that it is one); returns whether it was created."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"convert output {out} exists and is not an empty folder")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return created


def _clear(out: Path, created: bool) -> None:
    """Undo a failed conversion: ``out`` empty again (removed if this run created it), so a rerun is not
    refused. Image links are removed, never what they point to."""
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    if created:
        out.rmdir()


def convert(fmt_from: str, fmt_to: str, src: str | os.PathLike, dst: str | os.PathLike, *,
            image_dir: str | os.PathLike | None = None, split: str | None = None,
            voc_difficult: str | None = None, copy_images: bool = False) -> ConvertResult:
    """Convert ``src`` (``fmt_from``) into the new folder ``dst`` (``fmt_to``); see the module docstring."""
    if fmt_to not in TARGET_FORMATS:
        raise ValueError(f"unknown target format {fmt_to!r} (one of {TARGET_FORMATS})")
    parts = read_source(fmt_from, src, image_dir=image_dir, split=split, voc_difficult=voc_difficult)
    if not parts:
        raise ValueError(f"{src}: no splits to convert")
    names = next(iter(parts.values())).names
    out = Path(dst)
    _refuse_output_over_inputs(out, src, [r.path for part in parts.values() for r in part.records])
    if not any(part.records for part in parts.values()):
        raise DataError(f"{src}: no images to convert (every split is empty)")
    created = _empty_dir(out)
    try:
        return _write(parts, out, names, fmt_to, copy_images)
    except BaseException:
        _clear(out, created)
        raise


def _write(parts: dict[str, SourceSplit], out: Path, names: list[str], fmt_to: str,
           copy_images: bool) -> ConvertResult:
    """Write every split into the empty folder ``out`` and check what was written."""
    for s, part in parts.items():
        _place_images(part.records, out / "images" / s, copy_images)
        if fmt_to == "yolo":
            write_yolo_labels(part.records, out / "labels" / s)
        else:
            atomic_write_text(out / "annotations" / f"instances_{s}.json", json.dumps(coco_from_source(part)), out)
    result = ConvertResult(out, out / "data.yaml" if fmt_to == "yolo" else out / "annotations",
                           source_reports={s: p.report for s, p in parts.items()})
    if fmt_to == "yolo":
        _write_data_yaml(out, list(parts), names, written_pixels(parts))
        result.splits = {s: open_split(result.data, s, log=False).report for s in parts}
    else:
        result.splits = {s: open_split(out / "annotations" / f"instances_{s}.json", s, out / "images" / s,
                                       log=False).report for s in parts}
    return result


def written_pixels(parts: dict[str, SourceSplit]) -> PixelSpec:
    """The pixel keys of the data.yaml written: the source YAML's, else (a COCO JSON) the channel count
    every checked image has when it is not 3."""
    spec = next(iter(parts.values())).pixels
    if not spec.is_default:
        return spec
    counts = {r.channels for p in parts.values() for r in p.records}
    if len(counts) == 1 and None not in counts and counts != {3}:
        return PixelSpec(channels=counts.pop())
    return spec


def _pixel_keys(spec: PixelSpec) -> dict[str, Any]:
    """The data YAML keys of ``spec`` (channels always; the others where they are not the default)."""
    keys: dict[str, Any] = {"channels": spec.channels}
    if spec.normalize == "meanstd":
        keys["normalize"] = {"mean": list(spec.mean), "std": list(spec.std)}
    elif spec.normalize != "dtype":
        keys["normalize"] = spec.normalize
    if spec.window is not None:
        keys["window"] = list(spec.window)
    if spec.frame is not None:
        keys["frame"] = spec.frame
    return keys


def _write_data_yaml(out: Path, splits: list[str], names: list[str], pixels: PixelSpec | None = None) -> None:
    """data.yaml over ``images/<split>`` with the source's ``channels`` (and its other pixel keys); a
    missing train or val split names the other (commented)."""
    entries = {s: f"images/{s}" for s in splits}
    note = ""
    for need, other in (("train", "val"), ("val", "train")):
        if need not in entries:
            entries[need] = entries.get(other) or entries[splits[0]]
            note += f"# only {', '.join(splits)} converted: {need} names the same images\n"
            LOG.warning("%s: no %s split in the source; data.yaml's %s names %s", out, need, need, entries[need])
    body = {"path": ".", **{s: entries[s] for s in SPLITS if s in entries}, "names": dict(enumerate(names)),
            **_pixel_keys(pixels or PixelSpec())}
    atomic_write_text(out / "data.yaml", note + yaml.safe_dump(body, sort_keys=False, allow_unicode=True), out)
