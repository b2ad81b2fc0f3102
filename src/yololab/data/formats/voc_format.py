"""Pascal VOC data sets: a VOC root (``JPEGImages/``, ``Annotations/``, ``ImageSets/Main/<set>.txt``) or a
data YAML with ``format: voc`` -> checked :class:`ImageRecord` s plus a COCO-style ground truth.

Decisions:

* A folder ``--data VOC2007`` has the splits train/val/test of ``ImageSets/Main``. A YAML names each
  split as set names (``trainval``: ``<path>/ImageSets/Main/trainval.txt``) or id-list files (``.txt``,
  whose VOC root is three folders up), one or a list, so VOC2007+2012 trainval / VOC2007 test works.
* Class names: ``names`` of the YAML, else read from every XML of every split's root: the standard 20
  VOC names (devkit order, as upstream VOC.yaml) when all found names are VOC classes, so subsets keep
  the standard class indices; otherwise the found names, sorted. Names outside ``names`` are dropped
  and counted (``unknown_class``).
* ``difficult`` objects: the ground truth the evaluator scores marks them ``iscrowd: 1`` (and
  ``difficult: 1``), so COCO-protocol mAP and ``--metric voc07|voc12`` ignore detections on them and
  they are no positives (pycocotools and faster-coco-eval both overwrite an ``ignore`` flag with
  ``iscrowd``, so crowd is the only ignore they honour; the match uses COCO's crowd IoU). For
  training ``voc_difficult: drop`` (default, as upstream's converter) leaves them out, ``keep`` trains on them.
* Image ids: ``int(stem)`` when every stem is numeric and unique (VOC2007), else 1-based positions
  in path order: the same convention as the YOLO-format ground truth.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from yololab.config import yaml_problem
from yololab.data.checks import EMPTY_LABELS, check_image_file_info, clean_box, report_frame
from yololab.data.formats.paths import OPT_IN_KEY, inside_root, listed_inside, read_opt_in
from yololab.data.records import ImageRecord
from yololab.data.report import DatasetReport
from yololab.data.formats.voc_xml import VOC_CLASSES, VocAnnotation, VocXmlError, parse_voc_xml, voc_to_pixels
from yololab.data.formats.yolo_format import IMG_FORMATS, PathLike, parse_names
from yololab.data.imaging.pixels import YAML_KEYS as PIXEL_KEYS
from yololab.data.imaging.pixels import PixelSpec, parse_pixel_spec
from yololab.errors import DataError

SPLITS = ("train", "val", "test")
DIFFICULT_MODES = ("drop", "keep")
#: YAML keys of a ``format: voc`` data YAML.
VOC_KEYS = frozenset({"format", "path", "train", "val", "test", "names", "nc", "voc_difficult", "download",
                      OPT_IN_KEY, *PIXEL_KEYS})


@dataclass
class VocConfig:
    """A VOC data set: per split, its id-list files; class names if given; the difficult policy."""

    source: Path
    splits: dict[str, list[Path]]
    names: list[str] | None = None
    difficult: str = "drop"
    allow_outside_root: bool = False  # ImageSets ids may name files outside their VOC root (opted in by the YAML)
    pixels: PixelSpec = PixelSpec()  # channels and normalisation (the YAML's channels/normalize/window/frame)

    def split(self, name: str) -> list[Path]:
        if name not in self.splits:
            raise KeyError(f"VOC data set {self.source} has no {name!r} split "
                           f"(expected ImageSets/Main/{name}.txt or a {name!r} key in the YAML)")
        return self.splits[name]

    def class_names(self) -> list[str]:
        """The given names, or the names found in the XMLs of every split's root (see the module doc)."""
        return list(self.names) if self.names else infer_names({voc_root(f) for fs in self.splits.values() for f in fs})


@dataclass
class VocSplit:
    """What :func:`load_voc_split` returns: records, names, report and the evaluator's ground truth."""

    records: list[ImageRecord]
    names: list[str]
    report: DatasetReport
    gt: dict[str, Any] = field(default_factory=dict)


def voc_root(id_list: Path) -> Path:
    """The VOC root of an ``ImageSets/Main/<set>.txt`` file."""
    return id_list.parent.parent.parent


def is_voc_root(path: PathLike) -> bool:
    """A folder laid out as a VOC root (``Annotations/`` and ``ImageSets/Main/``)."""
    p = Path(path)
    return p.is_dir() and (p / "Annotations").is_dir() and (p / "ImageSets" / "Main").is_dir()


def is_voc_data(path: PathLike) -> bool:
    """``--data`` names a VOC root folder or a data YAML with ``format: voc``."""
    p = Path(path)
    if p.is_dir():
        return is_voc_root(p)
    if p.suffix.lower() not in (".yaml", ".yml") or not p.is_file():
        return False
    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(cfg, dict) and str(cfg.get("format", "")).lower() == "voc"


def _split_files(value: object, root: Path, key: str, where: str) -> list[Path]:
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for v in items:
        if not isinstance(v, (str, os.PathLike)) or not str(v):
            raise ValueError(f"{where}: {key!r} entries must be set names or ImageSets .txt paths, got {v!r}")
        s = os.path.expanduser(str(v))
        if s.endswith(".txt"):
            p = Path(s)
            out.append(p if p.is_absolute() else root / p)
        else:
            out.append(root / "ImageSets" / "Main" / f"{s}.txt")
    return out


def load_voc_config(path: PathLike) -> VocConfig:
    """A VOC root folder or a ``format: voc`` data YAML (keys path, train, val, test, names, voc_difficult)."""
    path = Path(path)
    if path.is_dir():
        if not is_voc_root(path):
            raise FileNotFoundError(f"{path} is not a VOC root (expected Annotations/ and ImageSets/Main/)")
        main = path / "ImageSets" / "Main"
        return VocConfig(path, {s: [main / f"{s}.txt"] for s in SPLITS if (main / f"{s}.txt").is_file()})
    where = str(path)
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise DataError(f"{where} is not valid YAML: {yaml_problem(err)}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a YAML mapping")
    unknown = sorted(set(map(str, cfg)) - VOC_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} for format: voc (known: {sorted(VOC_KEYS)})")
    root = Path(os.path.expanduser(str(cfg.get("path") or ".")))
    root = root if root.is_absolute() else (path.parent / root).resolve()
    difficult = str(cfg.get("voc_difficult", "drop")).lower()
    if difficult not in DIFFICULT_MODES:
        raise ValueError(f"{where}: voc_difficult must be one of {DIFFICULT_MODES}, got {cfg['voc_difficult']!r}")
    splits = {s: _split_files(cfg[s], root, s, where) for s in SPLITS if cfg.get(s) not in (None, "", [])}
    if "train" not in splits or "val" not in splits:
        raise ValueError(f"{where}: a format: voc YAML needs 'train' and 'val' (set names or ImageSets .txt files)")
    names = parse_names(cfg["names"], cfg.get("nc"), where) if cfg.get("names") else None
    return VocConfig(path.resolve(), splits, names, difficult, read_opt_in(cfg, where), parse_pixel_spec(cfg, where))


def infer_names(roots: set[Path] | list[Path]) -> list[str]:
    """Class names of every readable XML under the roots' ``Annotations/`` (see the module docstring)."""
    found: set[str] = set()
    for root in roots:
        for xml in (root / "Annotations").glob("*.xml"):
            try:
                found.update(o.name for o in parse_voc_xml(xml).objects)
            except VocXmlError:
                continue  # reported with its file name when its split is loaded
    if not found:
        raise ValueError(f"no object names found in the XMLs under {', '.join(map(str, sorted(roots)))}; "
                         f"give 'names' in a data YAML")
    return list(VOC_CLASSES) if found <= set(VOC_CLASSES) else sorted(found)


def _read_ids(id_list: Path, confined: bool = True) -> list[str]:
    """The image ids of an ImageSets file; ``confined``: each must name files inside its VOC root
    (``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg``), else :class:`PathEscapeError`."""
    if not id_list.is_file():
        raise FileNotFoundError(f"VOC image set {id_list} does not exist")
    ids = []
    for number, line in enumerate(id_list.read_text(encoding="utf-8-sig").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            image_id = line.split()[0]
            if confined:  # Annotations/ and JPEGImages/ are siblings: one check holds for both
                listed_inside(voc_root(id_list), voc_root(id_list) / "Annotations" / image_id, f"{id_list} line {number}")
            ids.append(image_id)
    return ids


def _image_path(root: Path, image_id: str, ann: VocAnnotation | None) -> Path:
    """``JPEGImages/<id>.jpg``, else the XML's ``<filename>``, else ``<id>`` with another image suffix."""
    jpg = root / "JPEGImages" / f"{image_id}.jpg"
    if jpg.is_file():
        return jpg
    if ann is not None and ann.filename:
        named = inside_root(root / "JPEGImages", ann.filename, f"{root / 'Annotations' / image_id}.xml <filename>")
        if named.is_file():
            return named
    for suffix in sorted(IMG_FORMATS):
        p = root / "JPEGImages" / f"{image_id}.{suffix}"
        if p.is_file():
            return p
    return jpg


def _read_item(root: Path, image_id: str) -> dict[str, Any]:
    """Parse one id's XML and check its image (thread pool worker)."""
    xml = root / "Annotations" / f"{image_id}.xml"
    out: dict[str, Any] = {"xml": xml, "ann": None, "error": None}
    if xml.is_file():
        try:
            out["ann"] = parse_voc_xml(xml)
        except VocXmlError as err:
            out["error"] = str(err)
    out["image"] = _image_path(root, image_id, out["ann"])
    out["check"] = check_image_file_info(str(out["image"]))
    return out


def _image_ids(paths: list[str]) -> list[int]:
    stems = [Path(p).stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return list(range(1, len(stems) + 1))


def _objects(ann: VocAnnotation, frame: tuple[int, int], index: dict[str, int], keep_difficult: bool,
             base: str, report: DatasetReport) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Training labels and ground-truth annotations (pixels of ``frame``, ``image_id`` unset) of one XML."""
    fw, fh = frame
    rows, anns = [], []
    for kind, detail in ann.problems:
        report.add(kind, 1, detail)
    for o in ann.objects:
        if o.name not in index:
            report.add("unknown_class", 1, f"{base} ({o.name})")
            continue
        x1, y1, x2, y2 = voc_to_pixels(o.box)
        kind, box = clean_box([index[o.name], (x1 + x2) / 2 / fw, (y1 + y2) / 2 / fh, (x2 - x1) / fw, (y2 - y1) / fh])
        if box is None:
            report.add(kind, 1, f"{base} ({o.name} {o.box})")
            continue
        if kind == "clipped":
            report.add("clipped", 1, base)
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(fw)), min(y2, float(fh))
        anns.append({"category_id": index[o.name], "bbox": [x1, y1, x2 - x1, y2 - y1],
                     "area": (x2 - x1) * (y2 - y1), "iscrowd": int(o.difficult), "difficult": int(o.difficult)})
        if o.difficult:
            report.add("difficult_box", 1, base)
            if not keep_difficult:
                continue
        rows.append(box)
    labels = np.asarray(rows, np.float32).reshape(-1, 5) if rows else EMPTY_LABELS.copy()
    if len(labels):
        _, first = np.unique(labels, axis=0, return_index=True)
        if len(first) < len(labels):
            report.add("duplicate_box", len(labels) - len(first), base)
            labels = labels[np.sort(first)]
    return labels, anns


def load_voc_split(cfg: VocConfig, split: str = "val", *, names: list[str] | None = None,
                   log: bool = True) -> VocSplit:
    """Records of one split, checked like any label source (every problem counted in the report)."""
    names = names or cfg.class_names()
    index = {n: i for i, n in enumerate(names)}
    report = DatasetReport()
    listed: list[tuple[Path, str]] = []
    seen: set[tuple[Path, str]] = set()
    for id_list in cfg.split(split):
        root = voc_root(id_list)
        for image_id in _read_ids(id_list, not cfg.allow_outside_root):
            if (root, image_id) in seen:
                report.add("duplicate_image", 1, image_id)
                continue
            seen.add((root, image_id))
            listed.append((root, image_id))
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as ex:
        items = list(ex.map(lambda a: _read_item(*a), listed))
    kept: list[tuple[ImageRecord, tuple[int, int], list[dict[str, Any]]]] = []
    for (root, image_id), item in zip(listed, items):
        status, info, note = item["check"]
        size = None if info is None else (info.width, info.height)
        name = item["image"].name
        if status != "ok":
            report.add(status, 1, f"{name} ({note})")
            continue
        if item["error"]:
            report.add("corrupt_label", 1, item["error"])
            continue
        ann: VocAnnotation | None = item["ann"]
        frame = ann.size if ann is not None and ann.size else size
        if not report_frame(report, name, size, frame, "XML"):
            continue
        if ann is None:
            report.add("missing_label", 1, name)
            labels, anns = EMPTY_LABELS.copy(), []
        else:
            labels, anns = _objects(ann, frame, index, cfg.difficult == "keep", item["xml"].name, report)
            if not ann.objects and not ann.problems:
                report.add("empty_label", 1, item["xml"].name)
        report.add_pixels(info.channels, info.bits)
        kept.append((ImageRecord(str(item["image"]), size[0], size[1], labels, str(item["xml"]), channels=info.channels,
                                 bits=info.bits, dtype=info.dtype), frame, anns))
    kept.sort(key=lambda k: k[0].path)
    images, annotations = [], []
    for (rec, frame, anns), iid in zip(kept, _image_ids([k[0].path for k in kept])):
        rec.image_id = iid
        images.append({"id": iid, "file_name": Path(rec.path).name, "width": frame[0], "height": frame[1]})
        start = len(annotations) + 1  # ids >= 1: COCOeval treats id 0 as "unmatched"
        annotations.extend([{"id": start + k, "image_id": iid, **a} for k, a in enumerate(anns)])
    records = [k[0] for k in kept]
    report.images_listed = len(listed)
    report.images = len(records)
    report.boxes = int(sum(len(r.labels) for r in records))
    report.backgrounds = sum(1 for r in records if not len(r.labels))
    if log:
        report.log(f"{cfg.source.name}:{split}")
    gt = {"info": {}, "licenses": [], "images": images, "annotations": annotations,
          "categories": [{"id": i, "name": n, "supercategory": ""} for i, n in enumerate(names)]}
    return VocSplit(records, names, report, gt)
