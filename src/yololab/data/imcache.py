"""Decoded, resized training images kept in RAM or as ``.npy`` files (``--cache auto|ram|disk|none``), as
upstream's ``--cache``: each image resized so that its long side is the training size, stored as decoded
(uint8 RGB for photos; uint16 or float32 and any channel count otherwise).

The ``.npy`` entries are the one cache of a machine: every run, cell and loader worker that trains at the
same size on the same images reads the same entries (memory-mapped, so the page cache holds one copy),
written once under a lock (:func:`fill_lock`), so a comparison decodes each image once per size. 'ram'
loads them into each process (decoding only where the disk has no room for them); 'auto' (the default)
takes RAM when every process's copy fits with the margin, else disk when it has room, else none
(:func:`choose_cache`, which says why).

The size of the cache is known before anything is decoded (the records hold every image's size), so
it is estimated first and refused with a :class:`UserError` naming both figures when it will not fit
(RAM: ``MemAvailable`` of /proc/meminfo, less a margin; disk: the free space of the cache folder).

Disk entries live in a folder beside the images' folder (``images/train2017.yololab-npy/``), or in the
user cache folder when that is read-only. An entry's name hashes the image's absolute path, size, mtime,
the training size and the interpolation, so an edited image is decoded again; each entry is written
atomically, so concurrent ranks may fill the same folder.

Entries are checked, not trusted: an entry must hold the (h, w, channels) array of the sample type its
record says (the shape from the image's size and the data set's channels; the type from the image's
header check, any of uint8/uint16/float32 where the record does not say; the image's size and mtime,
and a data set's non-default :class:`~yololab.data.imaging.pixels.PixelSpec`, are in its name). One
that does not, or that cannot be read, is reported once and decoded again once, under the fill lock. A
cache folder that is a symbolic link, or a ``.fill.lock`` that is a link (dangling or not), is refused
before anything is decoded.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yololab.atomic import WriteError, atomic_write, confined_folder, open_nofollow
from yololab.data.cache import folder_writable, user_cache_dir
from yololab.data.imaging.pixels import PixelSpec
from yololab.data.records import ImageRecord
from yololab.errors import UserError

LOG = logging.getLogger("yololab")

CACHE_KINDS = ("auto", "ram", "disk")
KEPT_DTYPES = ("uint8", "uint16", "float32")  # what decoding keeps
SAFETY_MARGIN = 0.1  # refuse when the estimate plus this fraction does not fit (upstream's margin)
NPY_SUFFIX = ".yololab-npy"


def check_cache_kind(cache: str | None) -> str | None:
    """``None``/''/'none' -> None; 'auto', 'ram' or 'disk' as given; anything else is a :class:`UserError`."""
    if cache is None or str(cache).strip().lower() in ("", "none", "false"):
        return None
    kind = str(cache).strip().lower()
    if kind not in CACHE_KINDS:
        raise UserError(f"cache {cache!r}: expected 'auto', 'ram', 'disk' or 'none'")
    return kind


def resized_hw(width: int, height: int, img_size: int) -> tuple[int, int]:
    """(h, w) of an image resized so that its long side is ``img_size`` (the dataset's rounding)."""
    r = img_size / max(width, height)
    if r == 1:
        return height, width
    return math.ceil(height * r), math.ceil(width * r)


def cv2_interpolation(augment: bool) -> int:
    """The interpolation a dataset scales images down with (upstream's: area only without augmentation)."""
    return cv2.INTER_LINEAR if augment else cv2.INTER_AREA


def _sample_bytes(record: ImageRecord, channels: int) -> int:
    """Bytes per pixel of a record's entry."""
    return channels * (np.dtype(record.dtype).itemsize if record.dtype else 1)


Frames = Sequence[tuple[int, int]]  # the (h, w) each record's entry holds, where not resized for img_size


def _frames(records: Sequence[ImageRecord], img_size: int, frames: Frames | None) -> Frames:
    """Each record's entry (h, w): ``frames`` when given (tiled training keeps large images at tile scale),
    else the image resized so that its long side is ``img_size``."""
    return frames if frames is not None else [resized_hw(r.width, r.height, img_size) for r in records]


def cache_bytes(records: Sequence[ImageRecord], img_size: int, channels: int = 3,
                frames: Frames | None = None) -> int:
    """Bytes of all images resized for ``img_size`` (or to ``frames``): the sum over images of
    h * w * channels * sample size."""
    return sum(h * w * _sample_bytes(r, channels) for r, (h, w) in zip(records, _frames(records, img_size, frames)))


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``; psutil where /proc is absent)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil  # optional: only for systems without /proc/meminfo

        return int(psutil.virtual_memory().available)
    except ImportError:
        raise UserError("cannot tell the available memory (no /proc/meminfo and no psutil): "
                        "install psutil or train without --cache ram") from None


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB"


def check_ram(need: int, available: int, processes: int = 1) -> None:
    """Refuse a RAM cache of ``need`` bytes per process (``processes`` on this machine) that does not fit."""
    total = need * processes
    if total * (1 + SAFETY_MARGIN) > available:
        who = f" x {processes} processes = {_gb(total)}" if processes > 1 else ""
        raise UserError(f"--cache ram needs {_gb(need)}{who} (+{SAFETY_MARGIN:.0%} margin) but only "
                        f"{_gb(available)} of memory is available: use --cache disk, a smaller --imgsz, "
                        f"or no cache")


def disk_folder(image_path: str | os.PathLike) -> Path:
    """Where the .npy entries of the images in ``image_path``'s folder go (see the module docstring)."""
    folder = Path(image_path).resolve().parent
    preferred = folder.with_name(folder.name + NPY_SUFFIX)
    if folder_writable(folder.parent) and (not preferred.exists() or folder_writable(preferred)):
        return preferred
    key = hashlib.sha1(str(folder).encode()).hexdigest()[:16]
    return user_cache_dir() / "images" / f"{folder.name}-{key}"


def npy_path(image_path: str | os.PathLike, img_size: int, interpolation: int,
             pixels: PixelSpec | None = None, variant: str = "") -> Path:
    """The .npy entry of one image resized for ``img_size`` with OpenCV ``interpolation`` (decoded per
    ``pixels`` when that is not the default; ``variant``: another frame of it, e.g. tiled training's
    tile-scale frame, named apart)."""
    p = Path(image_path).resolve()
    st = p.stat()
    text = f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{img_size}\0{interpolation}"
    if pixels is not None and not pixels.is_default:
        text += f"\0{sorted(pixels.to_dict().items())}"
    if variant:
        text += f"\0{variant}"
    key = hashlib.sha1(text.encode()).hexdigest()
    return disk_folder(p) / f"{p.stem}-{key[:16]}.npy"


def _disk_todo(paths: Sequence[Path], records: Sequence[ImageRecord], img_size: int,
               channels: int = 3, frames: Frames | None = None) -> dict[Path, int]:
    """Bytes still to write per folder, for the entries that do not exist yet."""
    todo: dict[Path, int] = {}
    for path, rec, (h, w) in zip(paths, records, _frames(records, img_size, frames)):
        if not path.is_file():
            todo[path.parent] = todo.get(path.parent, 0) + h * w * _sample_bytes(rec, channels) + 128  # + header
    return todo


def _disk_short(todo: dict[Path, int]) -> tuple[Path, int, int, str | None] | None:
    """The first folder without room for its entries (folder, need, free, why it cannot be written: None
    when it can but is too full), or None when all fit."""
    for folder, need in todo.items():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(folder).free
        except OSError as err:
            return folder, need, 0, err.strerror or type(err).__name__
        if need * (1 + SAFETY_MARGIN) > free:
            return folder, need, free, None
    return None


def _short_text(short: tuple[Path, int, int, str | None]) -> str:
    folder, need, free, problem = short
    if problem is not None:
        return f"the .npy entries cannot be written in {folder} ({problem})"
    return f"no room for the .npy entries in {folder} ({_gb(need)} needed, {_gb(free)} free)"


def check_disk(paths: Sequence[Path], records: Sequence[ImageRecord], img_size: int, channels: int = 3,
               frames: Frames | None = None) -> int:
    """Bytes still to write for the entries that do not exist yet; refuse when a folder lacks the space."""
    todo = _disk_todo(paths, records, img_size, channels, frames)
    short = _disk_short(todo)
    if short is not None:
        folder, need, free, problem = short
        if problem is not None:
            raise UserError(f"--cache disk cannot write its .npy entries in {folder}: {problem}; make it "
                            f"writable (or set XDG_CACHE_HOME to a writable folder), or use no cache")
        raise UserError(f"--cache disk needs {_gb(need)} more in {folder} but only {_gb(free)} is free: "
                        f"free some space, use a smaller --imgsz, or no cache")
    return sum(todo.values())


@dataclass(frozen=True)
class CacheChoice:
    """What a dataset caches: ``kind`` 'ram', 'disk' or None, whether the shared ``.npy`` entries are
    used (``entries``), and why (logged)."""

    kind: str | None
    entries: bool
    reason: str


def choose_cache(requested: str | None, records: Sequence[ImageRecord], img_size: int, paths: Sequence[Path],
                 processes: int = 1, channels: int = 3, frames: Frames | None = None) -> CacheChoice:
    """Resolve ``requested`` ('auto', 'ram', 'disk' or None) for ``records`` at ``img_size`` (entries of
    ``frames`` (h, w) where given) with entries at ``paths``; ``processes`` on this machine each hold their
    own RAM copy. An explicit kind that does not fit
    is a :class:`UserError`; 'auto' falls back (RAM, else disk, else none) and says why."""
    kind = check_cache_kind(requested)
    if kind is None:
        return CacheChoice(None, False, "cache: none")
    need = cache_bytes(records, img_size, channels, frames)
    todo = _disk_todo(paths, records, img_size, channels, frames)
    short = _disk_short(todo)
    disk_note = (f"{_gb(sum(todo.values()))} of .npy entries still to write" if short is None else
                 _short_text(short))
    if kind == "disk":
        check_disk(paths, records, img_size, channels, frames)
        return CacheChoice("disk", True, f"cache: disk ({_gb(need)}, {disk_note})")
    available = available_memory()
    copies = f"{_gb(need)} x {processes} process(es)" if processes > 1 else _gb(need)
    if kind == "ram":
        check_ram(need, available, processes)
        return CacheChoice("ram", short is None, f"cache: ram ({copies}, {_gb(available)} available; {disk_note})")
    if need * processes * (1 + SAFETY_MARGIN) <= available:
        return CacheChoice("ram", short is None, f"cache auto -> ram: {copies} fits in {_gb(available)} available "
                           f"with a {SAFETY_MARGIN:.0%} margin ({disk_note})")
    if short is None:
        return CacheChoice("disk", True, f"cache auto -> disk: RAM needs {copies} but {_gb(available)} is "
                           f"available; {disk_note}")
    return CacheChoice(None, False, f"cache auto -> none: RAM needs {copies} but {_gb(available)} is available, "
                       f"and {disk_note}")


@contextmanager
def fill_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s fill lock (an flock, released when its holder dies): a run that finds another filling
    the same entries waits for it, then finds them written instead of decoding them again. A ``folder``
    or ``.fill.lock`` that is a symbolic link is refused (:class:`~yololab.atomic.UnsafePathError`)."""
    confined_folder(folder, folder.parent)
    try:
        fd = open_nofollow(folder / ".fill.lock", os.O_RDWR, folder)
    except (OSError, WriteError):  # a folder we cannot lock in: atomic entries keep concurrent fills correct
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def save_npy(path: Path, image: np.ndarray) -> None:
    """Write one entry atomically (a temporary file in the same folder, then a rename)."""
    atomic_write(path, lambda handle: np.save(handle, image, allow_pickle=False), path.parent)


def remove_partial_entries(folder: Path) -> None:
    """Delete the temporary files of fills that died before their rename (call under :func:`fill_lock`)."""
    for tmp in folder.glob(".*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass


def entry_shape(record: ImageRecord, img_size: int, channels: int = 3) -> tuple[int, int, int]:
    """The (h, w, channels) an entry of ``record`` resized for ``img_size`` must hold."""
    return (*resized_hw(record.width, record.height, img_size), channels)


def entry_problem(path: Path, shape: tuple[int, ...] | None, dtype: str | None = "uint8") -> str | None:
    """Why the entry at ``path`` is not an array of ``dtype`` (None: any of :data:`KEPT_DTYPES`) and
    ``shape`` (None: any shape) that fills the file ('missing' when absent); None when it is."""
    fmt = np.lib.format
    want = dtype
    try:  # the .npy header and the file's length: no array data is read
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            have, _, dtype = read(f)
            expected, size = f.tell() + math.prod(have) * dtype.itemsize, os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as err:
        return f"is unreadable ({err})"
    allowed = KEPT_DTYPES if want is None else (want,)
    if dtype.name not in allowed or dtype.byteorder == ">" or (shape is not None and tuple(have) != tuple(shape)):
        return (f"holds a {dtype} array of shape {tuple(have)}, expected {want or '/'.join(KEPT_DTYPES)} "
                f"{shape or '(h, w, 3)'}")
    if size != expected:
        return f"has {size} bytes where its header says {expected}"
    return None


_REPORTED: set[Path] = set()  # entries already reported (once each, per process)
_REDONE: set[Path] = set()  # entries already decoded again (once each, per process)


def report_entry(path: Path, problem: str) -> None:
    """Warn once per process about the entry ``path``."""
    if path not in _REPORTED:
        _REPORTED.add(path)
        LOG.warning("cache entry %s %s; decoding its image again", path, problem)


def load_npy(path: Path, shape: tuple[int, ...] | None = None, mmap: bool = False,
             redo: Callable[[], np.ndarray] | None = None, dtype: str | None = "uint8") -> np.ndarray | None:
    """One entry (``mmap``: memory-mapped read-only, shared through the page cache by every process that
    maps it) when it is the ``dtype`` array of ``shape`` it must be (:func:`entry_problem`); else None (the
    caller decodes the image).
    A wrong or unreadable entry is reported once and, given ``redo`` (the decoder), rewritten once under
    the fill lock, returning the decoded image."""
    problem = entry_problem(path, shape, dtype)
    if problem == "missing":
        return None
    if problem is None:
        try:
            return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as err:  # replaced since it was checked
            problem = f"is unreadable ({err})"
    report_entry(path, problem)
    if redo is None or path in _REDONE:
        return None
    _REDONE.add(path)
    with fill_lock(path.parent):
        if entry_problem(path, shape, dtype) is None:  # another process redid it meanwhile
            return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        image = redo()
        save_npy(path, image)
        return image
