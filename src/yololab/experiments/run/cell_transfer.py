"""A cell folder as bytes and back, for cells that run where the driver's folder cannot be seen.

The Ray executor ships a cell's existing files (last.pt to resume from, cell.yaml, error.json, ...)
and the comparison's scoring ground truth to a node; the node returns its cell folder the same way,
and the driver writes the files atomically into ``out_dir``, metrics.json (the done marker) last.
Files travel whole through Ray's object store, so a folder larger than ``MAX_TRANSFER_BYTES`` is a
clear error rather than an out-of-memory node.
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
DONE_MARKER = "metrics.json"


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


def unpack_folder(files: Files, root: Path) -> None:
    """Write ``files`` under ``root`` (atomically each; the done marker last)."""
    for rel in sorted(files, key=lambda name: name == DONE_MARKER):
        target = _inside(root, rel)
        atomic_write(target, lambda handle, data=files[rel]: handle.write(data))


def write_back(cell_root: Path, files: Files, sent: Collection[str]) -> None:
    """Replace the driver's cell folder contents with what the node returned: files the node removed
    (e.g. error.json after a success) are removed here, and metrics.json is written last."""
    for rel in set(sent) - files.keys():
        _inside(cell_root, rel).unlink(missing_ok=True)
    unpack_folder(files, cell_root)


def write_scoring_back(scoring_root: Path, files: Files) -> None:
    """Add the node's scoring ground truth; one that differs from the file already here is an error
    (the same rule as ``run_cell.save_scoring_gt``)."""
    for rel, data in files.items():
        target = _inside(scoring_root, rel)
        old = read_json_if_present(target)
        if old is None:
            atomic_write(target, lambda handle, data=data: handle.write(data))
        elif json_sha256(old) != json_sha256(_loads(data)):
            raise ConfigError(f"{target} holds another ground truth than a node scored against (the data "
                              f"differs between nodes?); use another --out folder")


def _loads(data: bytes) -> object:
    import json

    return json.loads(data.decode("utf-8"))


def _inside(root: Path, rel: str) -> Path:
    """``root / rel``, refusing names that would leave ``root``."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"refusing to write {rel!r} outside {root}")
    return target
