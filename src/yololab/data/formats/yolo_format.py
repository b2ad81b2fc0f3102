"""YOLO-format dataset description: the data YAML, image listing and image -> label paths."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import yaml

from yololab.config import yaml_problem
from yololab.data.formats.paths import OPT_IN_KEY, listed_inside, read_opt_in
from yololab.data.imaging.pixels import YAML_KEYS as PIXEL_KEYS
from yololab.data.imaging.pixels import PixelSpec, parse_pixel_spec
from yololab.data.tiling.tiles import TileSettings, parse_tiles
from yololab.errors import DataError

LOG = logging.getLogger("yololab")

#: Image suffixes yololab reads (OpenCV decodes them; PIL is the fallback).
IMG_FORMATS: frozenset[str] = frozenset({"bmp", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "dcm", "dicom"})
#: YAML keys understood by :func:`load_data_config` (``download`` is accepted and ignored, as upstream uses it).
KNOWN_KEYS: frozenset[str] = frozenset({"path", "train", "val", "test", "names", "nc", "download", "format",
                                        "tiles", OPT_IN_KEY, *PIXEL_KEYS})

PathLike = Union[str, os.PathLike]
SplitSpec = Union[PathLike, Sequence[PathLike]]


@dataclass
class DataConfig:
    """A parsed data YAML: dataset root, the splits (absolute paths) and class names."""

    root: Path
    train: list[Path]
    val: list[Path]
    test: list[Path] | None
    names: list[str]
    yaml_path: Path | None = None
    extra: dict = field(default_factory=dict)
    allow_outside_root: bool = False  # .txt list lines may name images outside ``root`` (opted in by the YAML)
    pixels: PixelSpec = PixelSpec()  # channels and normalisation (keys channels, normalize, window, frame)
    tiles: TileSettings | None = None  # tiled training (``tiles:``, yololab.data.tiling.tiles)

    @property
    def list_root(self) -> Path | None:
        """The folder every .txt list line must stay in (None: opted out by ``allow_outside_root``)."""
        return None if self.allow_outside_root else self.root

    @property
    def nc(self) -> int:
        """Number of classes."""
        return len(self.names)

    def split(self, name: str) -> list[Path]:
        """The paths of split ``name`` ('train', 'val' or 'test')."""
        spec = getattr(self, name, None) if name in ("train", "val", "test") else None
        if spec is None:
            raise KeyError(f"data config {self.yaml_path or ''} has no {name!r} split")
        return spec


def parse_names(names: object, nc: object, where: str) -> list[str]:
    """Class names from a YAML list or ``{index: name}`` dict; indices must be 0..n-1."""
    if isinstance(names, dict):
        try:
            items = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: 'names' dict keys must be class indices, got {list(names)[:5]}") from e
        if sorted(items) != list(range(len(items))):
            raise ValueError(f"{where}: 'names' dict keys must be 0..{len(items) - 1} without gaps, "
                             f"got {sorted(items)[:10]}...")
        out = [items[i] for i in range(len(items))]
    elif isinstance(names, (list, tuple)):
        out = [str(n) for n in names]
    else:
        raise ValueError(f"{where}: 'names' must be a list or an {{index: name}} dict, got {type(names).__name__}")
    if not out:
        raise ValueError(f"{where}: 'names' is empty")
    if nc is not None and int(nc) != len(out):
        raise ValueError(f"{where}: nc={nc} but {len(out)} names are given")
    return out


def _resolve_split(value: object, root: Path, key: str, where: str) -> list[Path] | None:
    """A split entry (path or list of paths) resolved against the dataset root."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for v in items:
        if not isinstance(v, (str, os.PathLike)):
            raise ValueError(f"{where}: {key!r} entries must be paths, got {v!r}")
        p = Path(os.path.expanduser(str(v)))
        out.append(p if p.is_absolute() else root / p)
    return out


def load_data_config(path: PathLike) -> DataConfig:
    """Read a YOLO data YAML (keys path/train/val/test/names); relative ``path`` is taken from the YAML's folder."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"data config {where} does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            cfg = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise DataError(f"{where} is not valid YAML: {yaml_problem(err)}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a YAML mapping, got {type(cfg).__name__}")
    if str(cfg.get("format", "yolo")).lower() != "yolo":
        raise ValueError(f"{where}: format {cfg['format']!r} is not a YOLO data YAML (format: yolo or voc)")
    missing = [k for k in ("train", "val", "names") if cfg.get(k) in (None, "", [])]
    if missing:
        raise ValueError(f"{where}: missing required key(s) {missing} (need train, val and names)")
    unknown = sorted(set(map(str, cfg)) - KNOWN_KEYS)
    if unknown:
        LOG.warning("%s: ignoring unknown key(s) %s", where, unknown)
    root_value = cfg.get("path")
    base = path.parent.resolve()
    if root_value in (None, ""):
        root = base
    else:
        root = Path(os.path.expanduser(str(root_value)))
        root = root if root.is_absolute() else (base / root).resolve()
    names = parse_names(cfg["names"], cfg.get("nc"), where)
    extra = {k: v for k, v in cfg.items() if k not in KNOWN_KEYS}
    return DataConfig(
        root=root,
        train=_resolve_split(cfg["train"], root, "train", where),
        val=_resolve_split(cfg["val"], root, "val", where),
        test=_resolve_split(cfg.get("test"), root, "test", where),
        names=names,
        yaml_path=path.resolve(),
        extra=extra,
        allow_outside_root=read_opt_in(cfg, where),
        pixels=parse_pixel_spec(cfg, where),
        tiles=parse_tiles(cfg.get("tiles"), where),
    )


def is_image_file(path: PathLike) -> bool:
    """Whether ``path`` has one of :data:`IMG_FORMATS` as suffix (case-insensitive)."""
    return Path(path).suffix[1:].lower() in IMG_FORMATS


def list_split(spec: PathLike, root: PathLike | None = None) -> tuple[list[Path], list[Path]]:
    """One split entry (a folder or a .txt list) -> (image paths, listed non-image paths).

    Folders are searched recursively. Relative paths in a .txt list are relative to the list's folder;
    given ``root`` (the data root), every listed path must stay inside it (:class:`PathEscapeError`).
    Listed images are returned whether or not they exist (missing ones are reported by the checks).
    """
    p = Path(spec)
    if p.is_dir():
        files = [Path(r) / f for r, _, fs in os.walk(p) for f in fs]
        return sorted((f for f in files if is_image_file(f)), key=str), []
    if p.is_file():
        images, other = [], []
        for number, line in enumerate(p.read_text(encoding="utf-8-sig").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            q = Path(os.path.expanduser(line))
            q = q if q.is_absolute() else p.parent / q
            q = Path(os.path.normpath(q))
            if root is not None:
                listed_inside(root, q, f"{p} line {number}")
            (images if is_image_file(q) else other).append(q)
        return sorted(images, key=str), other
    raise FileNotFoundError(f"split {p} does not exist (expected an image folder or a .txt list of images)")


def find_images(split_spec: SplitSpec, root: PathLike | None = None) -> list[Path]:
    """All image paths of a split: a folder, a .txt list of image paths, or a list of those (sorted, unique);
    ``root``: see :func:`list_split`."""
    specs = [split_spec] if isinstance(split_spec, (str, os.PathLike)) else list(split_spec)
    out: dict[Path, None] = {}
    for s in specs:
        for f in list_split(s, root)[0]:
            out.setdefault(f, None)
    return sorted(out, key=str)


def image_to_label_path(image_path: PathLike) -> Path:
    """Label path for an image: the last ``images`` path component becomes ``labels``, suffix ``.txt``.

    Without an ``images`` component the label sits next to the image.
    """
    p = Path(image_path)
    parts = list(p.parts)
    for i in range(len(parts) - 2, -1, -1):  # the file name itself is never replaced
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def label_dir_for(split_dir: PathLike) -> Path:
    """The labels folder mirroring an images folder (``.../images/val`` -> ``.../labels/val``)."""
    p = Path(split_dir)
    parts = list(p.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return p
