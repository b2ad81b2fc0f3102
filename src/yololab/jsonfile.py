"""The one JSON reader and writer of the package.

* :func:`read_json` -- a file's content; a missing or unreadable file is a :class:`JsonFileError`
  naming the file and what was wrong.
* :func:`read_json_if_present` -- the same, but None when the file does not exist (a marker file
  such as a cell's ``metrics.json`` that may not have been written yet). A file that exists and is not
  JSON is still an error: every file yololab writes is written atomically, so a broken one was
  edited or damaged by hand and silently ignoring it would hide that.
* :func:`write_json` -- atomic, confined to ``root`` (see :mod:`yololab.atomic`); numpy scalars
  and paths are written as numbers and strings.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from yololab.atomic import atomic_write_text
from yololab.errors import DataError


class JsonFileError(DataError):
    """A JSON file that is missing, unreadable or not JSON; the message names it."""


def read_json(path: str | os.PathLike) -> Any:
    """The parsed content of ``path``; raises :class:`JsonFileError` naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JsonFileError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise JsonFileError(f"cannot read {path}: {err}") from None
    try:
        return json.loads(text)
    except ValueError as err:
        raise JsonFileError(f"{path} is not valid JSON ({err}); restore it or delete it to have it "
                            f"written again") from None


def read_json_if_present(path: str | os.PathLike) -> Any | None:
    """:func:`read_json`, or None when ``path`` does not exist."""
    return read_json(path) if Path(path).is_file() else None


def to_json(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text (numpy scalars as numbers, paths as strings)."""
    separators = None if indent is not None else (",", ":")
    return json.dumps(data, indent=indent, separators=separators, default=_json_default)


def write_json(path: str | os.PathLike, data: Any, root: str | os.PathLike | None = None,
               indent: int | None = 2) -> None:
    """Write ``data`` to ``path`` atomically (``indent=None``: compact)."""
    atomic_write_text(path, to_json(data, indent), root)


def json_sha256(data: Any) -> str:
    """Hash of canonical JSON (key order and whitespace do not matter)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
