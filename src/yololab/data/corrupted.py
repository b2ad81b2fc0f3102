"""Scoring images under a corruption, made on the fly in the loader (never written to disk).

Each image is decoded at its own size, corrupted there (as COCO-C corrupts the original photographs),
and only then resized and letterboxed like any scoring image. The seed of an image is the run's seed
and its file name, so a run is reproducible and does not depend on the order or folder of the images.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yololab.data.corruptions import check, corrupt
from yololab.data.dataset import DetectionDataset
from yololab.data.imaging.images import read_image


@dataclass(frozen=True)
class CorruptionSpec:
    """One corruption at one severity (1-5), with the seed its random draws start from."""

    name: str
    severity: int
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.name, self.severity)
        if self.seed < 0:
            raise ValueError(f"corruption seed {self.seed}: expected a non-negative integer")


def image_seed(seed: int, path: Any) -> int:
    """The seed of one image: the run's seed and the CRC-32 of its file name."""
    return int(seed) * 2 ** 32 + zlib.crc32(Path(path).name.encode())


def corrupt_file_image(image: np.ndarray, path: Any, spec: CorruptionSpec) -> np.ndarray:
    """``image`` (decoded from ``path``) under ``spec``; an image too small to corrupt is named."""
    try:
        return corrupt(image, spec.name, spec.severity, image_seed(spec.seed, path))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


class CorruptedDataset(DetectionDataset):
    """A scoring :class:`DetectionDataset` whose images are corrupted at full size before resizing
    (no image cache: the corrupted images exist only in the loader)."""

    def __init__(self, records, corruption: CorruptionSpec, *args, **kwargs):
        kwargs["cache"] = None
        super().__init__(records, *args, **kwargs)
        self.corruption = corruption

    def _decode(self, i: int) -> np.ndarray:
        path = self.records[i].path
        return corrupt_file_image(read_image(path), path, self.corruption)
