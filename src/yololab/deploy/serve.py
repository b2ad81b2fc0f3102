"""``yololab serve``: a FastAPI app on uvicorn with micro-batched inference.

POST /predict (multipart field ``file``) -> detections as JSON; GET /health; GET /info; OpenAPI
docs at /docs. Uploads above the size limit get 413; empty ones 400; non-images 415; corrupt or
truncated images 422 (missing ``file`` field: FastAPI's 422). The server keeps serving after any
of them. SIGINT/SIGTERM stop it gracefully: in-flight requests finish, then the batcher drains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, File, UploadFile
from fastapi.responses import JSONResponse

from yololab.deploy.batching import BatcherClosed, MicroBatcher
from yololab.deploy.images import ImageDecodeError, decode_image_bytes
from yololab.deploy.limits import BodySizeLimit
from yololab.deploy.pipeline import Predictor

LOG = logging.getLogger("yololab")


@dataclass
class ServeConfig:
    weights: str
    imgsz: int | None = None
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    threads: int | None = None
    backend: str | None = None
    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_upload_mb: float = 20.0
    device: str = "auto"  # a --device string; /info's model.device says what runs the model

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


def _detections_json(dets: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for x1, y1, x2, y2, score, cls in np.asarray(dets, np.float64).tolist():
        c = int(cls)
        out.append({"box": [round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)],
                    "score": round(score, 5), "class_id": c,
                    "class_name": names[c] if 0 <= c < len(names) else str(c)})
    return out


def create_app(config: ServeConfig, predictor: Predictor | None = None) -> FastAPI:
    """The app; the model is loaded here (before serving) so a bad --weights fails at once."""
    from yololab.version import __version__

    predictor = predictor or Predictor(config.weights, config.imgsz, config.conf, config.iou,
                                       config.max_det, threads=config.threads, backend=config.backend,
                                       device=config.device)
    batcher = MicroBatcher(predictor, config.max_batch, config.max_wait_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        LOG.info("serving %s (%s on %s, %dx%d)", config.weights, predictor.backend.kind,
                 predictor.backend.device, *predictor.imgsz)
        try:
            yield
        finally:
            LOG.info("shutting down: finishing queued requests")
            await batcher.stop()

    app = FastAPI(title="yololab detector", version=__version__, lifespan=lifespan,
                  description="YOLO object detection. POST an image to /predict.")
    app.add_middleware(BodySizeLimit, max_bytes=config.max_upload_bytes)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness plus batching counters."""
        return {"status": "ok", **batcher.snapshot()}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """The model and the server settings."""
        return {"yololab_version": __version__, "model": predictor.backend.info(),
                "imgsz": list(predictor.imgsz), "config": asdict(config),
                "max_upload_bytes": config.max_upload_bytes}

    @app.post("/predict", responses={400: {"description": "empty upload"},
                                     413: {"description": "upload too large"},
                                     415: {"description": "not an image"},
                                     422: {"description": "corrupt or truncated image"}})
    async def predict(file: UploadFile = File(..., description="an image (JPEG, PNG, BMP, WebP...)")):
        """Detect objects; boxes are x1, y1, x2, y2 in the uploaded image's pixels."""
        data = await file.read()
        try:
            image = await asyncio.to_thread(decode_image_bytes, data)
        except ImageDecodeError as err:
            return JSONResponse({"detail": err.message}, status_code=err.status)
        x, infos = await asyncio.to_thread(predictor.preprocess, [image])
        try:
            result = await batcher.submit(x[0], infos[0])
        except BatcherClosed as err:
            return JSONResponse({"detail": str(err)}, status_code=503)
        except Exception as err:  # logged by the batcher; this request fails, the server stays up
            return JSONResponse({"detail": f"inference failed: {type(err).__name__}: {err}"},
                                status_code=500)
        h, w = image.shape[:2]
        return {"file_name": file.filename, "width": w, "height": h,
                "detections": _detections_json(result.detections, predictor.names),
                "batch_size": result.batch_size, "inference_ms": round(result.inference_ms, 2)}

    return app


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info") -> None:
    """Run the app on uvicorn until SIGINT/SIGTERM (graceful: 10 s for in-flight requests)."""
    import uvicorn

    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10,
                limit_concurrency=max(64, 8 * config.max_batch))

