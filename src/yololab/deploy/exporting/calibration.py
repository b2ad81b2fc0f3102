"""INT8 calibration data: letterboxed *training* images of a data YAML, shared by the ONNX Runtime
(``quantize``) and NNCF (``quantize_openvino``) quantizers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from yololab.data.imaging.pixels import PixelSpec

LOG = logging.getLogger("yololab")
INPUT = "images"


def calibration_files(data: str | os.PathLike, n: int = 300, split: str = "train",
                      seed: int = 0) -> list[Path]:
    """``n`` image paths of ``split`` (default the training split) of a data YAML: all of them when
    there are fewer, else a random pick of ``n`` (deterministic for a ``seed``), in file order."""
    from yololab.data import load_split

    records, _ = load_split(data, split, log=False)
    paths = [Path(r.path) for r in records]
    if not paths:
        raise ValueError(f"{data}: the {split} split has no images to calibrate with")
    if n <= 0:
        raise ValueError(f"calib_images must be >= 1, got {n}")
    if n < len(paths):
        order = np.random.default_rng(seed).permutation(len(paths))[:n]
        paths = [paths[i] for i in sorted(order)]
    elif n > len(paths):
        LOG.info("calibrating on all %d %s images (%d asked for)", len(paths), split, n)
    return paths


class LetterboxCalibrationReader:
    """ONNX Runtime ``CalibrationDataReader``: one letterboxed (1, C, H, W) float image in [0, 1]
    per call, the same preprocessing as ``yololab predict`` (grey 114 padding); ``channels`` is the
    model's input channel count (an RGB file is converted as :func:`.samples.sample_image` does);
    ``pixels``: the data YAML's :class:`~yololab.data.imaging.pixels.PixelSpec` when not the default (16-bit, DICOM,
    N bands): images are then decoded and normalised by it, as train and predict do."""

    def __init__(self, files: Sequence[str | os.PathLike], imgsz: tuple[int, int], stride: int = 32,
                 input_name: str = INPUT, channels: int = 3, pixels: PixelSpec | None = None) -> None:
        self.files = [Path(f) for f in files]
        self.imgsz, self.stride, self.input_name, self.channels = imgsz, stride, input_name, channels
        self.pixels = None if pixels is None or pixels.is_default else pixels
        self._it: Iterator[Path] = iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def batch(self, path: Path) -> np.ndarray:
        from yololab.deploy.exporting.samples import sample_image
        from yololab.deploy.runtime.images import preprocess

        if self.pixels is not None:
            from yololab.data.imaging.images import read_image

            return preprocess([read_image(path, self.pixels)], self.imgsz, self.stride, pixels=self.pixels)[0]
        return preprocess([sample_image(path, self.channels)], self.imgsz, self.stride)[0]

    def get_next(self) -> dict[str, np.ndarray] | None:
        path = next(self._it, None)
        return None if path is None else {self.input_name: self.batch(path)}

    def rewind(self) -> None:
        self._it = iter(self.files)

    def set_range(self, start_index: int, end_index: int) -> None:  # for ORT's strided calibration
        self._it = iter(self.files[start_index:end_index])
