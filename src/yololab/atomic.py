"""The one writer of every file yololab writes.

* Atomic: a temporary file beside the target, fsync, then a rename; a kill at any moment leaves the
  old file or the new one, never half of one.
* Confined: the target may not be a symbolic link (it would send the bytes wherever the link points)
  and, given ``root`` (the output folder the user named), its resolved folder must lie inside it.
* Clear about failures: a full disk or a refused permission becomes one :class:`WriteError` naming the
  file and saying the previous version of it is intact.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

from yololab.errors import UserError

#: errno values that mean "this disk/folder will not take the file" (not a bug of ours)
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG}


class UnsafePathError(UserError):
    """A write that would follow a symbolic link or land outside its output folder."""


class WriteError(UserError):
    """The disk refused a file (full, read-only, no permission); ``path`` and the OSError are kept."""

    def __init__(self, message: str, path: Path, cause: OSError) -> None:
        super().__init__(message)
        self.path, self.cause = path, cause


def check_target(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """``path`` after creating its folder; raises :class:`UnsafePathError` when ``path`` is a symbolic
    link or its resolved folder is not inside the resolved ``root``."""
    path = Path(path)
    if root is not None:
        Path(root).mkdir(parents=True, exist_ok=True)
        existing = path.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        _check_inside(path, existing.resolve(), Path(root).resolve())  # before creating any folder
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise UnsafePathError(f"refusing to write {path}: it is a symbolic link (to {os.readlink(path)}); "
                              f"writing would change the file it points to. Remove the link or choose "
                              f"another output folder")
    if root is not None:
        _check_inside(path, path.parent.resolve(), Path(root).resolve())
    return path


def _check_inside(path: Path, folder: Path, top: Path) -> None:
    if folder != top and top not in folder.parents:
        raise UnsafePathError(f"refusing to write {path}: its folder resolves to {folder}, outside the "
                              f"output folder {top} (a symbolic link in between?)")


def _storage_error(exc: BaseException) -> OSError | None:
    """The OSError of a full disk / refused permission in ``exc`` or its causes (torch wraps it)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _write_error(path: Path, err: OSError) -> WriteError:
    kept = "its previous version is intact" if path.exists() else "nothing was written there"
    return WriteError(f"could not write {path}: {os.strerror(err.errno)} (errno {err.errno}); {kept}. "
                      f"Free space or fix the permissions, then run the command again", path, err)


def _create_temp(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new, empty temporary file beside ``path``, created with mode 0o666 so that the kernel applies
    the process umask itself (mkstemp's private 0o600 would need a chmod, and reading the umask
    means setting it: not thread-safe)."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")


def _replace_from(tmp: Path, path: Path, root: str | os.PathLike | None, fill: Callable[[], None]) -> None:
    """``fill()`` the temporary file ``tmp``, then rename it over ``path`` (checked again first: not
    swapped for a link meanwhile); on any failure ``tmp`` is removed and a full disk is one sentence."""
    try:
        fill()
        check_target(path, root)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        storage = _storage_error(exc)
        if storage is not None:
            raise _write_error(path, storage) from None
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None],
                 root: str | os.PathLike | None = None) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync, then rename over ``path``
    (checked by :func:`check_target` first). Permissions: 0666 minus the umask."""
    path = check_target(path, root)
    try:
        fd, tmp = _create_temp(path)
    except OSError as err:
        raise (_write_error(path, err) if err.errno in STORAGE_ERRNOS else err) from err

    def fill() -> None:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())

    _replace_from(tmp, path, root, fill)


def atomic_write_text(path: str | os.PathLike, text: str, root: str | os.PathLike | None = None) -> None:
    """``atomic_write`` of UTF-8 text."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")), root)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, root: str | os.PathLike | None = None) -> None:
    """``atomic_write`` of bytes."""
    atomic_write(path, lambda handle: handle.write(data), root)


def atomic_write_path(path: str | os.PathLike, write: Callable[[Path], None],
                      root: str | os.PathLike | None = None) -> None:
    """For writers that need a file name (OpenCV's VideoWriter, ONNX with external data): ``write``
    gets a temporary name beside ``path`` with the same suffix, which is then renamed over ``path``."""
    path = check_target(path, root)
    fd, tmp = _create_temp(path, f".tmp{path.suffix}")
    os.close(fd)
    _replace_from(tmp, path, root, lambda: write(tmp))


def open_nofollow(path: str | os.PathLike, flags: int, root: str | os.PathLike | None = None) -> int:
    """``os.open(path, flags | O_NOFOLLOW | O_CREAT)`` after :func:`check_target` (lock files, appends)."""
    path = check_target(path, root)
    try:
        fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePathError(f"refusing to write {path}: it is a symbolic link") from None
        raise (_write_error(path, err) if err.errno in STORAGE_ERRNOS else err) from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(f"refusing to write {path}: it is not a regular file")
    return fd


def append_text(path: str | os.PathLike, text: str, root: str | os.PathLike | None = None) -> None:
    """Append UTF-8 ``text`` to ``path`` (created if missing), never through a symbolic link."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND, root)
    try:
        with os.fdopen(fd, "ab") as handle:
            handle.write(text.encode("utf-8"))
    except OSError as err:
        raise (_write_error(Path(path), err) if err.errno in STORAGE_ERRNOS else err) from err
