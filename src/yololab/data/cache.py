"""JSON cache of per-image scan results, invalidated by file paths, sizes and mtimes.

The cache lives next to the labels folder (``labels/val2017.yololab-cache.json``). If that folder is
read-only it goes to ``$XDG_CACHE_HOME/yololab`` or ``~/.cache/yololab`` under a name derived from the
absolute path of the preferred location. No pickle is ever read or written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from yololab.atomic import atomic_write_text

LOG = logging.getLogger("yololab")

CACHE_VERSION = 3  # bump whenever the checks or the stored result format change
CACHE_SUFFIX = ".yololab-cache.json"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/yololab``, else ``~/.cache/yololab`` (the XDG convention; no yololab-specific
    environment variable)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "yololab"


def fallback_path(preferred: Path) -> Path:
    """The user-cache location standing in for ``preferred`` (keyed by its absolute path)."""
    key = hashlib.sha1(str(preferred.resolve()).encode()).hexdigest()[:16]
    return user_cache_dir() / f"{preferred.name.removesuffix(CACHE_SUFFIX)}-{key}{CACHE_SUFFIX}"


def file_signature(path: str) -> list[int]:
    """[size, mtime_ns] of a file, or [-1, -1] if it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def item_signature(image_path: str, label_path: str) -> list[int]:
    """Signature of an image/label pair: both files' sizes and mtimes."""
    return file_signature(image_path) + file_signature(label_path)


def combined_hash(entries: dict[str, list[int]]) -> str:
    """Hash over all (image path, signature) pairs, order independent."""
    h = hashlib.sha256()
    for k in sorted(entries):
        h.update(f"{k}\0{entries[k]}\n".encode())
    return h.hexdigest()


def _read(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        LOG.info("ignoring unreadable cache %s (%s)", path, e)
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("items"), dict):
        return None
    return data


def load_cache(preferred: Path) -> tuple[dict | None, Path | None]:
    """Read the newest valid cache of ``preferred`` and its user-cache fallback -> (data, where it was found)."""
    found = []
    for p in (preferred, fallback_path(preferred)):
        try:
            mtime = p.stat().st_mtime_ns
        except OSError:
            continue
        data = _read(p)
        if data is not None:
            found.append((mtime, data, p))
    if not found:
        return None, None
    _, data, p = max(found, key=lambda t: t[0])
    return data, p


def folder_writable(folder: Path) -> bool:
    """Whether ``folder`` may be written. A folder without any write permission bit counts as read-only
    even for root, who could write it anyway: a dataset marked read-only is left untouched."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK) and bool(mode & 0o222)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not folder_writable(path.parent):
        raise PermissionError(13, "folder is read-only")
    atomic_write_text(path, text)


def save_cache(preferred: Path, items: dict[str, dict]) -> Path | None:
    """Write ``items`` (image path -> {'sig', 'result'}) to ``preferred``, else to the user cache dir.

    Returns where it was written, or None if neither location is writable (a warning is logged).
    """
    sigs = {k: v["sig"] for k, v in items.items()}
    text = json.dumps({"version": CACHE_VERSION, "hash": combined_hash(sigs), "items": items},
                      separators=(",", ":"))
    errors = []
    for p in (preferred, fallback_path(preferred)):
        try:
            _write_atomic(p, text)
            if p != preferred:
                LOG.debug("cache folder %s is not writable, cached in %s", preferred.parent, p)
            return p
        except OSError as e:
            errors.append(f"{p.parent}: {e.strerror or e}")
    LOG.warning("could not write the dataset cache (%s); labels will be re-checked next time", "; ".join(errors))
    return None
