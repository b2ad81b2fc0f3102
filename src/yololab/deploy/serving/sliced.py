"""Server-side sliced inference (``yololab serve --slice SIZE``): every upload decoded at full size, cut
into slices (:func:`yololab.eval.sliced.predict_sliced`: SAHI's grid and merges), and the slices sent
through the server's micro-batcher, so that slices of one request and of concurrent requests share
batches. A request works through at most ``chunk`` slices at a time, which bounds its memory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yololab.deploy.runtime.pipeline import Predictor, Thresholds
from yololab.deploy.serving.batching import MicroBatcher
from yololab.eval.sliced import predict_sliced
from yololab.eval.slicing import SliceSettings, slice_grid


@dataclass
class SlicedResult:
    detections: np.ndarray  # (n, 6) merged, in the image's pixels
    slices: int             # model inputs of this request (slices, plus the whole-image pass)
    batch_size: int         # the largest batch its slices ran in
    inference_ms: float     # model + NMS of those batches, summed


def slice_count(height: int, width: int, settings: SliceSettings) -> int:
    """Model inputs one image takes: its slices, plus the whole-image pass when there are several."""
    n = len(slice_grid(height, width, settings.size, settings.overlap))
    return n + (1 if settings.full_pass and n > 1 else 0)


def slice_input_bytes(predictor: Predictor, chunk: int) -> int:
    """Memory of ``chunk`` preprocessed slices (float32, 3 x the model's size)."""
    h, w = predictor.imgsz
    return chunk * 3 * h * w * 4


async def predict_sliced_served(image: np.ndarray, predictor: Predictor, batcher: MicroBatcher,
                                settings: SliceSettings, thresholds: Thresholds | None, chunk: int) -> SlicedResult:
    """``image``'s merged detections; the slicing runs in a worker thread, each group of up to ``chunk``
    slices is preprocessed there and handed to the batcher on the event loop."""
    loop = asyncio.get_running_loop()
    seen = {"batch": 0, "ms": 0.0, "inputs": 0}

    async def submit_all(x: np.ndarray, infos: Sequence) -> list:
        return await asyncio.gather(*(batcher.submit(x[i], infos[i], thresholds) for i in range(len(infos))))

    def detect(crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        x, infos = predictor.preprocess(crops)
        results = asyncio.run_coroutine_threadsafe(submit_all(x, infos), loop).result()
        seen["inputs"] += len(results)
        seen["batch"] = max([seen["batch"], *(r.batch_size for r in results)])
        seen["ms"] += sum(r.inference_ms / max(r.batch_size, 1) for r in results)  # this request's share
        return [r.detections for r in results]

    max_det = thresholds.max_det if thresholds is not None else predictor.max_det
    dets = await asyncio.to_thread(predict_sliced, image, detect, settings, chunk, max_det)
    return SlicedResult(dets, seen["inputs"], seen["batch"], seen["ms"])
