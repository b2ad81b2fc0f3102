"""Pascal VOC annotation XML: read one file, write one file, and the devkit's pixel convention.

Box convention (VOC devkit): coordinates are 1-based pixel indices and inclusive, so an object
covering pixels ``xmin..xmax`` is the continuous interval ``[xmin - 1, xmax]`` (width
``xmax - xmin + 1``, the devkit's own ``+1`` widths); detectron2 reads VOC the same way. Upstream
YOLOv5's VOC.yaml converter instead uses centre ``(xmin + xmax) / 2 - 1`` and width ``xmax - xmin``
(at most one pixel apart). Written boxes are integers, as LabelImg and the devkit write them.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from yololab.atomic import atomic_write
from yololab.errors import DataError

#: The 20 Pascal VOC classes in the devkit's (alphabetical) order, as upstream VOC.yaml numbers them.
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


class VocXmlError(DataError):
    """An annotation file that cannot be read at all (not XML, or not a VOC ``<annotation>``)."""


@dataclass
class VocObject:
    """One ``<object>``: class name, box as written (1-based inclusive pixels) and the difficult flag."""

    name: str
    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    difficult: bool = False


@dataclass
class VocAnnotation:
    """One XML file: ``<filename>``, ``<size>`` (None when absent or zero), its readable objects and,
    per unreadable object, a (problem kind, detail) pair for the dataset report."""

    filename: str | None
    size: tuple[int, int] | None
    objects: list[VocObject] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def voc_to_pixels(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """VOC (xmin, ymin, xmax, ymax), 1-based inclusive -> continuous pixel [x1, y1, x2, y2]."""
    xmin, ymin, xmax, ymax = box
    return xmin - 1.0, ymin - 1.0, float(xmax), float(ymax)


def _number(node: ET.Element | None, tag: str) -> float:
    text = node.findtext(tag) if node is not None else None
    if text is None or not text.strip():
        raise ValueError(f"no <{tag}>")
    return float(text.strip())


def parse_voc_xml(path: str | os.PathLike) -> VocAnnotation:
    """Read a VOC annotation file; raises :class:`VocXmlError` naming the file when it is not one.

    An object without a name or a numeric ``<bndbox>`` is left out and listed in ``problems`` as a
    ``malformed_line`` (the label checks' kind for an unreadable entry).
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise VocXmlError(f"{Path(path).name}: not a readable XML file ({err})") from None
    if root.tag != "annotation":
        raise VocXmlError(f"{Path(path).name}: root element is <{root.tag}>, expected <annotation>")
    size = None
    node = root.find("size")
    try:
        w, h = int(_number(node, "width")), int(_number(node, "height"))
        size = (w, h) if w > 0 and h > 0 else None
    except ValueError:
        size = None
    ann = VocAnnotation((root.findtext("filename") or "").strip() or None, size)
    for k, obj in enumerate(root.iter("object"), 1):
        name = (obj.findtext("name") or "").strip()
        try:
            if not name:
                raise ValueError("no <name>")
            bb = obj.find("bndbox")
            if bb is None:
                raise ValueError("no <bndbox>")
            box = tuple(_number(bb, t) for t in ("xmin", "ymin", "xmax", "ymax"))
            difficult = bool(int(float((obj.findtext("difficult") or "0").strip() or 0)))
        except ValueError as err:
            ann.problems.append(("malformed_line", f"{Path(path).name} (object {k}: {err})"))
            continue
        ann.objects.append(VocObject(name, box, difficult))  # type: ignore[arg-type]
    return ann


def write_voc_xml(path: str | os.PathLike, filename: str, size: tuple[int, int],
                  objects: list[VocObject], depth: int = 3) -> None:
    """Write a LabelImg-style annotation file (integer boxes, ``difficult`` 0/1)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = filename
    s = ET.SubElement(root, "size")
    for tag, v in (("width", size[0]), ("height", size[1]), ("depth", depth)):
        ET.SubElement(s, tag).text = str(v)
    ET.SubElement(root, "segmented").text = "0"
    for o in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = o.name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = "0"
        ET.SubElement(node, "difficult").text = str(int(o.difficult))
        bb = ET.SubElement(node, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), o.box):
            ET.SubElement(bb, tag).text = str(int(v)) if float(v).is_integer() else str(v)
    ET.indent(root)
    atomic_write(path, lambda handle: ET.ElementTree(root).write(handle, encoding="utf-8", xml_declaration=False))
