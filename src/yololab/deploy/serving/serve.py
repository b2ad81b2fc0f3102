"""``yololab serve``: a FastAPI app on uvicorn with micro-batched inference.

POST /predict (multipart field ``file``; query parameters ``conf``, ``iou``, ``max_det``, ``imgsz``)
-> detections as JSON (``--slice``: every upload in slices, :mod:`yololab.deploy.serving.sliced`); GET /health; GET /info; OpenAPI docs at /docs. Uploads above the size limit get
413; empty ones 400; non-images 415; corrupt, truncated or over-the-pixel-limit images 422, as are
query parameters out of range or unknown (missing ``file`` field: FastAPI's 422). Memory is bounded:
request bodies are spooled to temporary files (:mod:`yololab.deploy.serving.limits`), a non-image is refused from
its first bytes, and ``memory_mb`` holds everything a request keeps in memory: its body's share while it is
taken in, the upload's bytes once read, what its decode may take (see :mod:`yololab.deploy.serving.admission`;
large images are decoded at reduced size, :mod:`yololab.deploy.serving.reduced_decode`); a request that finds the
budget in use gets 503 with Retry-After. /health reports the budget's peak and the process's peak RSS. The server keeps serving after any of them. SIGINT/SIGTERM stop
it gracefully: in-flight requests finish, then the batcher drains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from yololab.deploy.runtime.images import MAX_PIXELS, SNIFF_BYTES, ImageDecodeError, inspect_upload, sniff_upload
from yololab.deploy.runtime.pipeline import Predictor, Thresholds
from yololab.deploy.serving.admission import BudgetFull, MemoryBudget, Reservation, process_peak_rss_bytes
from yololab.deploy.serving.batching import BatcherClosed, MicroBatcher
from yololab.deploy.serving.limits import BODY_RAM_BYTES, BodySizeLimit
from yololab.deploy.serving.reduced_decode import DecodedUpload, decode_cost, decode_reduced, worst_decode_cost
from yololab.deploy.serving.sliced import predict_sliced_served, slice_input_bytes
from yololab.device import DEFAULT_DEVICE
from yololab.eval.slicing import SliceSettings
from yololab.errors import ConfigError, EnvError

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
    device: str = DEFAULT_DEVICE  # a --device string; /info's model.device says what runs the model
    max_pixels: int = MAX_PIXELS  # per upload (width x height); larger ones get 422
    memory_mb: float = 1024.0  # decode memory of all requests in flight; beyond it 503 + Retry-After
    #: every upload predicted in slices (decoded at full size, merged); no request can turn it on or off
    slicing: SliceSettings | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_mb * 2**20)


QUERY_PARAMS = ("conf", "iou", "max_det", "imgsz")


def _detections_json(dets: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for x1, y1, x2, y2, score, cls in np.asarray(dets, np.float64).tolist():
        c = int(cls)
        out.append({"box": [round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)],
                    "score": round(score, 5), "class_id": c,
                    "class_name": names[c] if 0 <= c < len(names) else str(c)})
    return out


def _query_problem(request: Request, iou: float | None, imgsz: int | None, predictor: Predictor) -> str | None:
    """Why the query string cannot be served (unknown names, an imgsz other than the model's, an iou
    for a model with NMS in its graph), or None."""
    unknown = sorted(set(request.query_params) - set(QUERY_PARAMS))
    if unknown:
        return f"unknown query parameter(s) {', '.join(unknown)}; /predict accepts {', '.join(QUERY_PARAMS)}"
    repeated = sorted({k for k in request.query_params if len(request.query_params.getlist(k)) > 1})
    if repeated:
        return f"query parameter(s) {', '.join(repeated)} given more than once; give each at most once"
    if imgsz is not None and (imgsz, imgsz) != tuple(predictor.imgsz):
        return (f"imgsz={imgsz}: this server runs the model at {predictor.imgsz[0]}x{predictor.imgsz[1]} (requests "
                f"are batched together); omit imgsz or start a server with --imgsz {imgsz}")
    if iou is not None and predictor.backend.has_nms:
        return "iou: this model has NMS in its graph, with its own IoU threshold; omit iou"
    return None


@dataclass
class _Body:
    """An upload's bytes in memory and their reservation in the budget."""

    data: bytes
    held: Reservation


async def _read_upload(file: UploadFile, budget: MemoryBudget) -> _Body:
    """The upload's bytes, read only after its first bytes look like an image (else 400/415) and its size is
    reserved in ``budget`` (else :class:`BudgetFull`)."""
    sniff_upload(await file.read(SNIFF_BYTES))
    await file.seek(0)
    size = file.size if file.size is not None else SNIFF_BYTES
    held = budget.reserve(size)
    try:
        return _Body(await file.read(), held)
    except BaseException:
        budget.release(held)
        raise


def _release(budget: MemoryBudget, body: _Body | None) -> None:
    if body is not None:
        budget.release(body.held)
        body.data = b""


def create_app(config: ServeConfig, predictor: Predictor | None = None) -> FastAPI:
    """The app; the model is loaded here (before serving) so a bad --weights fails at once."""
    from yololab.version import __version__

    predictor = predictor or Predictor(config.weights, config.imgsz, config.conf, config.iou,
                                       config.max_det, threads=config.threads, backend=config.backend,
                                       device=config.device)
    batcher = MicroBatcher(predictor, config.max_batch, config.max_wait_ms)
    slicing = config.slicing.check(predictor.backend.stride) if config.slicing is not None else None
    # sliced: every upload decoded at full size (a target no side reaches), its slices max_batch at a time
    target = config.max_pixels if slicing else max(predictor.imgsz)
    slices_bytes = slice_input_bytes(predictor, config.max_batch) if slicing else 0
    worst = worst_decode_cost(config.max_pixels, target) + config.max_upload_bytes + BODY_RAM_BYTES + slices_bytes
    if worst > config.memory_bytes:
        raise ValueError(f"--memory-mb {config.memory_mb:g} cannot hold one upload of --max-pixels "
                         f"{config.max_pixels} and --max-upload-mb {config.max_upload_mb:g} ({worst / 2**20:.0f} MiB "
                         f"with its decode): raise --memory-mb or lower --max-pixels or --max-upload-mb")
    budget = MemoryBudget(config.memory_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        LOG.info("serving %s (%s on %s, %dx%d%s)", config.weights, predictor.backend.kind,
                 predictor.backend.device, *predictor.imgsz,
                 f", sliced: {slicing.size} px slices, {slicing.merge}/{slicing.metric}" if slicing else "")
        try:
            yield
        finally:
            LOG.info("shutting down: finishing queued requests")
            await batcher.stop()

    app = FastAPI(title="yololab detector", version=__version__, lifespan=lifespan,
                  description="YOLO object detection. POST an image to /predict.")
    app.add_middleware(BodySizeLimit, max_bytes=config.max_upload_bytes, budget=budget)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, batching counters, the memory budget (request bodies included) and the process's peak RSS."""
        return {"status": "ok", **batcher.snapshot(), **budget.snapshot(),
                "process_peak_rss_bytes": process_peak_rss_bytes()}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """The model and the server settings."""
        return {"yololab_version": __version__, "model": predictor.backend.info(),
                "imgsz": list(predictor.imgsz), "config": asdict(config),
                "max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels,
                "memory_budget_bytes": config.memory_bytes,
                "concurrent_largest_uploads": config.memory_bytes // worst}

    @app.post("/predict", responses={400: {"description": "empty upload"},
                                     413: {"description": "upload too large"},
                                     415: {"description": "not an image"},
                                     422: {"description": "corrupt, truncated or too many pixels; or a query "
                                                          "parameter out of range or unknown"},
                                     503: {"description": "memory budget in use: retry after Retry-After s"}})
    async def predict(request: Request,
                      file: UploadFile = File(..., description="an image (JPEG, PNG, BMP, WebP...)"),
                      conf: float | None = Query(None, ge=0.0, le=1.0, description="score threshold"),
                      iou: float | None = Query(None, gt=0.0, le=1.0, description="NMS IoU threshold"),
                      max_det: int | None = Query(None, ge=1, le=10_000, description="detections at most"),
                      imgsz: int | None = Query(None, ge=1, description="must be the server's model size")):
        """Detect objects; boxes are x1, y1, x2, y2 in the uploaded image's pixels."""
        problem = _query_problem(request, iou, imgsz, predictor)
        parts = len((await request.form()).getlist("file"))  # the form FastAPI parsed (cached)
        if parts > 1 and not problem:
            problem = f"{parts} 'file' parts: send one image per request"
        if problem:
            return JSONResponse({"detail": problem}, status_code=422)
        thresholds = None if (conf, iou, max_det) == (None, None, None) else Thresholds(
            predictor.conf if conf is None else conf, predictor.iou if iou is None else iou,
            predictor.max_det if max_det is None else max_det)
        body: _Body | None = None
        try:
            body = await _read_upload(file, budget)
            header = await asyncio.to_thread(inspect_upload, body.data, config.max_pixels)
            held = budget.reserve(decode_cost(header, target, full=not predictor.pixels.is_default))
        except ImageDecodeError as err:
            _release(budget, body)
            return JSONResponse({"detail": err.message}, status_code=err.status)
        except BudgetFull as err:
            _release(budget, body)
            return JSONResponse({"detail": str(err)}, status_code=503,
                                headers={"Retry-After": str(err.retry_after)})
        try:
            try:
                upload: DecodedUpload = await asyncio.to_thread(decode_reduced, body.data, header, target,
                                                                predictor.pixels)
                _release(budget, body)
                if slicing is None:  # sliced: each group of slices is preprocessed as it goes
                    x, infos = await asyncio.to_thread(predictor.preprocess, [upload.image])
            except ImageDecodeError as err:
                return JSONResponse({"detail": err.message}, status_code=err.status)
            if slicing is not None:
                budget.shrink(held, upload.image.nbytes + slices_bytes)
                sliced = await predict_sliced_served(upload.image, predictor, batcher, slicing, thresholds,
                                                     config.max_batch)
                dets = sliced.detections  # full-size decode: scale 1 (kept for an oriented or reduced one)
                dets[:, [0, 2]] *= upload.scale_x
                dets[:, [1, 3]] *= upload.scale_y
                return {"file_name": file.filename, "width": upload.width, "height": upload.height,
                        "detections": _detections_json(dets, predictor.names),
                        "batch_size": sliced.batch_size, "inference_ms": round(sliced.inference_ms, 2),
                        "slices": sliced.slices}
            budget.shrink(held, x.nbytes + upload.image.nbytes)
            result = await batcher.submit(x[0], infos[0], thresholds)
        except BatcherClosed as err:
            return JSONResponse({"detail": str(err)}, status_code=503, headers={"Retry-After": "5"})
        except Exception as err:  # logged by the batcher; this request fails, the server stays up
            return JSONResponse({"detail": f"inference failed: {type(err).__name__}: {err}"},
                                status_code=500)
        finally:
            budget.release(held)
            _release(budget, body)
        dets = np.asarray(result.detections, np.float64).copy()
        dets[:, [0, 2]] *= upload.scale_x
        dets[:, [1, 3]] *= upload.scale_y
        return {"file_name": file.filename, "width": upload.width, "height": upload.height,
                "detections": _detections_json(dets, predictor.names),
                "batch_size": result.batch_size, "inference_ms": round(result.inference_ms, 2)}

    return app


def check_address(host: str, port: int) -> None:
    """Raise :class:`EnvError` naming ``--host``/``--port`` when the server could not listen there (a port
    outside 0-65535, one in use or not allowed, an unknown host), before the model is loaded."""
    import socket

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port: give a number from 0 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as err:
        raise EnvError(f"cannot listen on --host {host} --port {port}: {err.strerror or err}") from None


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info") -> None:
    """Run the app on uvicorn until SIGINT/SIGTERM (graceful: 10 s for in-flight requests)."""
    import uvicorn

    check_address(host, port)
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10,
                limit_concurrency=max(64, 8 * config.max_batch))

