"""What ``yololab predict --source`` accepts: an image, a folder, a glob, a video or a .txt list.

Network sources (``http://``, ``rtsp://`` ... URLs, as the source or a line of a list) are refused
unless ``allow_network``; then OpenCV/FFmpeg opens them as streams, one frame after another.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yololab.data.imaging.pixels import PixelSpec
from yololab.deploy.runtime.images import load_image
from yololab.errors import ConfigError

LOG = logging.getLogger("yololab")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".gif",
                  ".ts", ".asf"}


URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # http://, rtsp://, rtmp://, udp://, file://...


class NetworkSourceError(ConfigError):
    """A URL or stream among the sources without ``--allow-network``."""


class Url(str):
    """A network source (kept as text: ``Path`` would fold its ``//``)."""

    @property
    def name(self) -> str:
        return Path(self.split("?", 1)[0].rstrip("/")).name or "stream"

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    @property
    def suffix(self) -> str:
        return ""


def is_url(text: str | Path) -> bool:
    return isinstance(text, Url) or bool(URL_PATTERN.match(str(text)))


def _refuse_urls(urls: list[str], where: str, allow_network: bool) -> None:
    if urls and not allow_network:
        shown = ", ".join(urls[:3]) + (f" (+{len(urls) - 3} more)" if len(urls) > 3 else "")
        raise NetworkSourceError(f"{where} names {len(urls)} network source(s): {shown}; yololab reads local "
                                 f"files only unless --allow-network is given")


@dataclass
class Frame:
    """One image to run on; ``frame`` is the 0-based video frame index (None for images)."""

    path: Path
    image: np.ndarray  # RGB uint8 (H, W, 3)
    frame: int | None = None
    fps: float = 0.0


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def resolve_source(source: str, allow_network: bool = False) -> list[Path]:
    """The files a source names, sorted (a video file is one entry; a URL is a :class:`Url`)."""
    if is_url(source):
        _refuse_urls([source], "--source", allow_network)
        return [Url(source)]
    path = Path(source)
    if _is_glob(source) and not path.exists():
        files = [Path(p) for p in sorted(glob.glob(source, recursive=True)) if Path(p).is_file()]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    elif path.suffix.lower() == ".txt" and path.is_file():
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        _refuse_urls([ln for ln in lines if is_url(ln)], f"the list {source}", allow_network)
        files = [Url(ln) if is_url(ln) else (Path(ln) if Path(ln).is_absolute() else path.parent / ln)
                 for ln in lines]
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"source not found: {source}")
    if not files:
        raise FileNotFoundError(f"source {source} holds no images or videos")
    return files


def is_video(path: Path) -> bool:
    """A video file or a network stream (read frame by frame)."""
    return is_url(path) or path.suffix.lower() in VIDEO_SUFFIXES


def count_frames(files: list[Path]) -> int:
    """Images + video frames (as reported by the container; an estimate for some codecs)."""
    total = 0
    for f in files:
        if is_url(f):
            continue  # a stream's length is unknown (and counting would connect twice)
        if is_video(f):
            cap = cv2.VideoCapture(str(f))
            total += max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            cap.release()
        else:
            total += 1
    return total


def iter_frames(files: list[Path], skipped: list[str] | None = None,
                pixels: PixelSpec | None = None) -> Iterator[Frame]:
    """Decode images and video frames in order; unreadable files are logged, listed in
    ``skipped`` and left out (never a crash halfway through a folder)."""
    for f in files:
        if is_video(f):
            cap = cv2.VideoCapture(str(f))
            if not cap.isOpened():
                _skip(skipped, f, "cannot open video")
                continue
            fps, index = float(cap.get(cv2.CAP_PROP_FPS) or 0.0), 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield Frame(f, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, fps)
                index += 1
            cap.release()
            if index == 0:
                _skip(skipped, f, "no decodable frames")
            continue
        try:
            yield Frame(f, load_image(f) if pixels is None or pixels.is_default else load_image(f, pixels))
        except (OSError, ValueError) as err:
            _skip(skipped, f, str(err))


def _skip(skipped: list[str] | None, path: Path, reason: str) -> None:
    LOG.warning("skipping %s: %s", path, reason)
    if skipped is not None:
        skipped.append(f"{path}: {reason}")
