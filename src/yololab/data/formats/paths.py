"""Paths read from label files and data set indexes stay inside their data root: a ``<filename>`` or
``file_name`` of ``../../x.jpg`` or ``/etc/x.jpg``, a VOC ImageSets id ``../../outside/x`` or a YOLO list
line outside the root is refused, naming the file and the value. A data YAML opts in to paths outside its
root with the key ``allow_outside_root: true`` (:data:`OPT_IN_KEY`)."""

from __future__ import annotations

import os
from pathlib import Path

from yololab.errors import DataError


#: the data YAML key that lets a data set's index name files outside its root
OPT_IN_KEY = "allow_outside_root"


class PathEscapeError(DataError):
    """A label file names an image outside its data root."""


def inside_root(root: str | os.PathLike, name: str, where: str) -> Path:
    """``root / name`` when ``name`` is relative and stays inside ``root`` (checked on the text of the
    path, so images linked into ``root`` from elsewhere are fine); else :class:`PathEscapeError`."""
    top = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(top, name))
    if os.path.isabs(name) or os.path.commonpath([top, full]) != top:
        raise PathEscapeError(f"{where} names the image {name!r}, which is outside the data root {top}; image "
                              f"paths in label files must be relative to it and stay inside it")
    return Path(root) / name


def listed_inside(root: str | os.PathLike, path: str | os.PathLike, where: str) -> Path:
    """``path`` (absolute, or relative to the current folder) read from a data set index when it lies
    inside ``root`` (checked on the text of the path, like :func:`inside_root`); else
    :class:`PathEscapeError` naming ``where`` (the index file and line) and the opt-in key."""
    top = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.abspath(path))
    if os.path.commonpath([top, full]) != top:
        raise PathEscapeError(f"{where} names {str(path)!r}, which is outside the data root {top}; move it "
                              f"inside, or set {OPT_IN_KEY}: true in the data YAML to read it anyway")
    return Path(path)


def read_opt_in(cfg: dict, where: str) -> bool:
    """The data YAML's ``allow_outside_root`` (a boolean, default false)."""
    value = cfg.get(OPT_IN_KEY, False)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {OPT_IN_KEY} must be true or false, got {value!r}")
    return value
