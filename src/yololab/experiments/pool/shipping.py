"""A folder as bytes and back, for tasks that run where the driver's folder cannot be seen.

The Ray pool ships a task's folders (a cell's last.pt to resume from, its cell.yaml, the comparison's
scoring ground truth, ...) to a node; the node returns them the same way, and the driver writes the
files atomically, the done marker last. Files travel whole through Ray's object store, so a folder
larger than ``MAX_TRANSFER_BYTES`` is a clear error rather than an out-of-memory node.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from yololab.atomic import atomic_write
from yololab.config import ConfigError
from yololab.jsonfile import json_sha256, read_json_if_present

Files = dict[str, bytes]  # path relative to the folder (POSIX) -> content
MAX_TRANSFER_BYTES = 4 << 30
SKIPPED = (".lock",)  # a lock belongs to the folder it locks


class TransferTooLarge(RuntimeError):
    """A folder exceeds what one Ray object may carry here."""


def pack_folder(root: Path, limit: int = MAX_TRANSFER_BYTES) -> Files:
    """Every regular file under ``root`` (none if it does not exist), except locks and temporary files."""
    files: Files = {}
    total = 0
    if not root.is_dir():
        return files
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name in SKIPPED or path.name.endswith(".tmp"):
            continue
        total += path.stat().st_size
        if total > limit:
            raise TransferTooLarge(f"{root} holds more than {limit / 2**30:.1f} GiB; too large to send through "
                                   f"Ray's object store (use a shared filesystem: --ray-shared-fs)")
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def unpack_folder(files: Files, root: Path, done_marker: str | None = None) -> None:
    """Write ``files`` under ``root`` (atomically each; ``done_marker`` last)."""
    for rel in sorted(files, key=lambda name: name == done_marker):
        target = _inside(root, rel)
        atomic_write(target, lambda handle, data=files[rel]: handle.write(data))


def mirror_back(root: Path, files: Files, sent: Collection[str], done_marker: str | None = None) -> None:
    """Replace the driver's folder contents with what the node returned: files the node removed (e.g. a
    stale error.json) are removed here, and ``done_marker`` is written last."""
    for rel in set(sent) - files.keys():
        _inside(root, rel).unlink(missing_ok=True)
    unpack_folder(files, root, done_marker)


def add_back(root: Path, files: Files) -> None:
    """Add the files a node returned to a folder other tasks share; one that differs from the file already
    here is an error (JSON compared by content, anything else byte for byte)."""
    for rel, data in files.items():
        target = _inside(root, rel)
        if not target.is_file():
            atomic_write(target, lambda handle, data=data: handle.write(data))
        elif not _same(target, data):
            raise ConfigError(f"{target} holds other content than a node returned for it (the data differs "
                              f"between nodes?); use another --out folder")


def _same(target: Path, data: bytes) -> bool:
    if target.suffix != ".json":
        return target.read_bytes() == data
    import json

    return json_sha256(read_json_if_present(target)) == json_sha256(json.loads(data.decode("utf-8")))


def _inside(root: Path, rel: str) -> Path:
    """``root / rel``, refusing names that would leave ``root``."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"refusing to write {rel!r} outside {root}")
    return target
