"""The one writer of every file yololab writes.

* Atomic: a temporary file beside the target, fsync, then a rename; a kill at any moment leaves the
  old file or the new one, never half of one.
* Confined: the target may not be a symbolic link (it would send the bytes wherever the link points)
  and, given ``root`` (the output folder the user named), its resolved folder must lie inside it.
* Clear about failures: a full disk or a refused permission becomes one :class:`WriteError` naming the
  file and saying the previous version of it is intact.
* By identity, not by spelling: an output that is one of the command's inputs by another path, a link
  or a hard link is refused (:func:`refuse_output_is_input`); a file written in place (a lock, an
  appended CSV, a log) may have no second hard link and, given its identity, must still be the file
  the run created; a folder a command makes or reuses may not be a symbolic link (:func:`confined_folder`).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

from yololab.errors import EnvError

#: errno values that mean "this disk/folder will not take the file" (not a bug of ours)
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG}


class UnsafePathError(EnvError):
    """A write that would follow a symbolic link or land outside its output folder."""


class WriteError(EnvError):
    """The disk refused a file (full, read-only, no permission); ``path`` and the OSError are kept."""

    def __init__(self, message: str, path: Path, cause: OSError) -> None:
        super().__init__(message)
        self.path, self.cause = path, cause


FileIdentity = tuple[int, int]  # (st_dev, st_ino): the same file whatever its path


def file_identity(path: str | os.PathLike) -> FileIdentity | None:
    """(device, inode) of ``path`` (links followed), or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def is_same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same resolved path, or the same device and inode (a hard
    link, a symbolic link, ``./x`` and ``x``)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    ida = file_identity(a)
    return ida is not None and ida == file_identity(b)


def refuse_output_is_input(out: str | os.PathLike, inputs: dict[str, str | os.PathLike | None]) -> None:
    """Raise :class:`UnsafePathError` when the output file ``out`` is one of ``inputs`` (by role, e.g.
    ``{"--weights": w}``) by identity: writing it would destroy the input before it was read."""
    for role, path in inputs.items():
        if path is not None and is_same_file(out, path):
            raise UnsafePathError(f"refusing to write {out}: it is the {role} file {path} (the same file by "
                                  f"another path or link), which writing would destroy; choose another output")


def confined_folder(folder: str | os.PathLike, top: str | os.PathLike, create: bool = True) -> Path:
    """``folder`` (a path below ``top``), created if missing (unless ``create`` is false); raises
    :class:`UnsafePathError` before anything is written when it or a folder between ``top`` and it is a
    symbolic link (a command's own folders are never redirected elsewhere) or is not a folder."""
    folder, top = Path(folder), Path(top)
    if create:
        top.mkdir(parents=True, exist_ok=True)
    current = top
    for part in folder.relative_to(top).parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(f"refusing to use {current}: it is a symbolic link (to {os.readlink(current)}), "
                                  f"so its files would land outside the output folder {top}; remove the link")
        if current.exists() and not current.is_dir():
            raise UnsafePathError(f"refusing to use {current}: it is a file, not a folder")
        if not current.exists():
            if not create:
                break
            current.mkdir()
    return folder


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


def _refusal(path: Path, st: os.stat_result, identity: FileIdentity | None) -> str | None:
    """Why a file opened for writing in place may not be written (None: it may)."""
    if not stat.S_ISREG(st.st_mode):
        return f"refusing to write {path}: it is not a regular file"
    if st.st_nlink > 1:
        return (f"refusing to write {path}: it has {st.st_nlink} hard links, so a file elsewhere shares its "
                f"contents and would change too; remove it or choose another output folder")
    if identity is not None and (st.st_dev, st.st_ino) != identity:
        return (f"refusing to write {path}: it is no longer the file this run created (replaced meanwhile); "
                f"remove it and run again")
    return None


def open_nofollow(path: str | os.PathLike, flags: int, root: str | os.PathLike | None = None,
                  identity: FileIdentity | None = None) -> int:
    """``os.open(path, flags | O_NOFOLLOW | O_CREAT)`` after :func:`check_target` (lock files, appends,
    logs): refuses a symbolic link, anything but a regular file, a file with a second hard link and,
    given ``identity``, a file other than that one. ``O_TRUNC`` truncates only after these checks."""
    path = check_target(path, root)
    try:
        fd = os.open(path, (flags & ~os.O_TRUNC) | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePathError(f"refusing to write {path}: it is a symbolic link") from None
        raise (_write_error(path, err) if err.errno in STORAGE_ERRNOS else err) from err
    why = _refusal(path, os.fstat(fd), identity)
    if why is not None:
        os.close(fd)
        raise UnsafePathError(why)
    if flags & os.O_TRUNC:
        os.ftruncate(fd, 0)
    return fd


def append_text(path: str | os.PathLike, text: str, root: str | os.PathLike | None = None,
                identity: FileIdentity | None = None) -> None:
    """Append UTF-8 ``text`` to ``path`` (created if missing), never through a symbolic link, never to a
    file with a second hard link, and given ``identity`` only to that file (the one the run created)."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND, root, identity)
    try:
        with os.fdopen(fd, "ab") as handle:
            handle.write(text.encode("utf-8"))
    except OSError as err:
        raise (_write_error(Path(path), err) if err.errno in STORAGE_ERRNOS else err) from err
