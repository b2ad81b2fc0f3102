"""Preprocess -> backend -> NMS -> original-image boxes, shared by predict, bench and serve."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yololab.data.imaging.pixels import PixelSpec, checkpoint_pixels
from yololab.deploy.runtime.backends import Backend
from yololab.deploy.runtime.images import LetterboxInfo, preprocess
from yololab.deploy.runtime.postprocess import postprocess, scale_detections
from yololab.device import DEFAULT_DEVICE

LOG = logging.getLogger("yololab")
DEFAULT_IMGSZ = 640


@dataclass(frozen=True)
class Thresholds:
    """Post-processing settings of one request."""

    conf: float
    iou: float
    max_det: int


class Predictor:
    """Runs any exported or .pt model on RGB uint8 images; returns (n, 6) arrays per image:
    x1, y1, x2, y2 (original pixels), score, class. Models exported with NMS use their graph's."""

    def __init__(self, weights: str | os.PathLike, imgsz: int | None = None, conf: float = 0.25,
                 iou: float = 0.45, max_det: int = 300, threads: int | None = None,
                 backend: str | None = None, agnostic: bool = False, device: str | None = DEFAULT_DEVICE,
                 pixels: PixelSpec | None = None) -> None:
        """``device``: a ``--device`` string (see :mod:`yololab.deploy.runtime.backends`); the chosen one is logged.
        ``pixels``: how images are decoded and normalised (default: what a .pt checkpoint or an export's
        metadata recorded, else 3-channel photos with dtype normalisation)."""
        self.backend = Backend(weights, threads=threads, kind=backend, device=device)
        exported = self.backend.meta.get("pixels")
        self.pixels = (pixels or checkpoint_pixels(weights)
                       or (PixelSpec.from_dict(exported, str(weights)) if exported else None) or PixelSpec())
        LOG.info("device: %s (%s, %s backend)", self.backend.device, self.backend.device_name(),
                 self.backend.kind)
        self.imgsz = self._resolve_imgsz(imgsz)
        self.conf, self.iou, self.max_det, self.agnostic = conf, iou, max_det, agnostic
        baked = self.backend.meta.get("nms")
        if baked and (baked["iou"] != iou or baked["conf"] > conf):
            LOG.warning("%s has NMS in its graph (conf %.3g, iou %.3g): those thresholds apply",
                        self.backend.path.name, baked["conf"], baked["iou"])

    def _resolve_imgsz(self, imgsz: int | None) -> tuple[int, int]:
        static, stride = self.backend.static_hw, self.backend.stride
        if static:
            if imgsz is not None and (imgsz, imgsz) != tuple(static):
                raise ValueError(f"{self.backend.path.name} was exported for {static[0]}x{static[1]}; "
                                 f"--imgsz {imgsz} does not fit it (re-export, or drop --imgsz)")
            return tuple(static)
        size = imgsz or DEFAULT_IMGSZ
        if size % stride:
            raise ValueError(f"--imgsz {size} is not a multiple of the model stride {stride}")
        return size, size

    @property
    def names(self) -> list[str]:
        return self.backend.names

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[LetterboxInfo]]:
        return preprocess(images, self.imgsz, self.backend.stride,
                          pixels=None if self.pixels.is_default else self.pixels)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.backend.infer(batch)

    def postprocess(self, raw: np.ndarray, infos: Sequence[LetterboxInfo]) -> list[np.ndarray]:
        return postprocess(raw, self.imgsz, infos, self.conf, self.iou, self.max_det, agnostic=self.agnostic)

    def run_batch(self, batch: np.ndarray, infos: Sequence[LetterboxInfo],
                  thresholds: Sequence[Thresholds | None] | None = None) -> list[np.ndarray]:
        """Model + NMS on an already preprocessed batch; ``thresholds``: per image, its own conf, iou
        and max_det (None: the predictor's)."""
        if thresholds is not None and any(t is not None for t in thresholds):
            return self._run_per_image(batch, infos, thresholds)
        if self.backend.has_nms:
            dets = self.backend.infer_nms(batch)
            return [scale_detections(d[d[:, 4] > self.conf][:self.max_det], self.imgsz, info)
                    for d, info in zip(dets, infos)]
        return self.postprocess(self.infer(batch), infos)

    def _run_per_image(self, batch: np.ndarray, infos: Sequence[LetterboxInfo],
                       thresholds: Sequence[Thresholds | None]) -> list[np.ndarray]:
        """One model run, then each image's NMS (or, for a graph with NMS, its conf and max_det)."""
        own = [t or Thresholds(self.conf, self.iou, self.max_det) for t in thresholds]
        if self.backend.has_nms:
            dets = self.backend.infer_nms(batch)
            return [scale_detections(d[d[:, 4] > t.conf][:t.max_det], self.imgsz, info)
                    for d, info, t in zip(dets, infos, own)]
        raw = self.infer(batch)
        return [postprocess(raw[i:i + 1], self.imgsz, [info], t.conf, t.iou, t.max_det, agnostic=self.agnostic)[0]
                for i, (info, t) in enumerate(zip(infos, own))]

    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not len(images):
            return []
        batch, infos = self.preprocess(images)
        return self.run_batch(batch, infos)
