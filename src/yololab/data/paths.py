"""Paths read from label files stay inside their data root: a ``<filename>`` or ``file_name`` of
``../../x.jpg`` or ``/etc/x.jpg`` is refused, naming the label file and the value."""

from __future__ import annotations

import os
from pathlib import Path

from yololab.errors import UserError


class PathEscapeError(UserError):
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
