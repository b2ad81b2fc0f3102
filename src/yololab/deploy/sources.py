"""What ``yololab predict --source`` accepts: an image, a folder, a glob, a video or a .txt list."""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yololab.deploy.images import load_image

LOG = logging.getLogger("yololab")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".gif",
                  ".ts", ".asf"}


@dataclass
class Frame:
    """One image to run on; ``frame`` is the 0-based video frame index (None for images)."""

    path: Path
    image: np.ndarray  # RGB uint8 (H, W, 3)
    frame: int | None = None
    fps: float = 0.0


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def resolve_source(source: str) -> list[Path]:
    """The files a source names, sorted (a video file is one entry)."""
    path = Path(source)
    if _is_glob(source) and not path.exists():
        files = [Path(p) for p in sorted(glob.glob(source, recursive=True)) if Path(p).is_file()]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    elif path.suffix.lower() == ".txt" and path.is_file():
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        files = [p if p.is_absolute() else path.parent / p for p in map(Path, lines)]
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"source not found: {source}")
    if not files:
        raise FileNotFoundError(f"source {source} holds no images or videos")
    return files


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def count_frames(files: list[Path]) -> int:
    """Images + video frames (as reported by the container; an estimate for some codecs)."""
    total = 0
    for f in files:
        if is_video(f):
            cap = cv2.VideoCapture(str(f))
            total += max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            cap.release()
        else:
            total += 1
    return total


def iter_frames(files: list[Path], skipped: list[str] | None = None) -> Iterator[Frame]:
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
            yield Frame(f, load_image(f))
        except (OSError, ValueError) as err:
            _skip(skipped, f, str(err))


def _skip(skipped: list[str] | None, path: Path, reason: str) -> None:
    LOG.warning("skipping %s: %s", path, reason)
    if skipped is not None:
        skipped.append(f"{path}: {reason}")
