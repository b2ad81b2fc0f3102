"""ASGI middleware that takes request bodies in without holding them in memory: each POST/PUT/PATCH body
is streamed into a spooled temporary file (its first ``SPOOL_RAM_BYTES`` in memory, the rest on disk) and
replayed to the app in small chunks. Bodies above a size limit get a JSON 413 before any parsing (by
Content-Length, or counted for chunked uploads) and never reach the app. Given the server's
:class:`~yololab.deploy.serving.admission.MemoryBudget`, each body first reserves the memory it may hold here
and in the app's multipart parser (which spools file parts the same way): when the budget is spent the
request gets 503 with Retry-After before its body is read. The temporary file is removed when the
request ends, however it ends.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from yololab.deploy.serving.admission import BudgetFull, MemoryBudget

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DRAIN_FACTOR = 4  # read (and drop) up to this many times the limit so the client sees the 413
SPOOL_RAM_BYTES = 1 << 20  # of a body held in memory; the rest is written to the temporary file
PARSER_RAM_BYTES = 1 << 20  # Starlette's multipart parser keeps up to 1 MiB of a file part in memory
REPLAY_CHUNK = 1 << 16  # bytes per message replayed to the app
BODY_RAM_BYTES = SPOOL_RAM_BYTES + PARSER_RAM_BYTES + 2 * REPLAY_CHUNK  # one body's share of the budget


class BodySizeLimit:
    """Spools POST/PUT/PATCH bodies up to ``max_bytes`` to a temporary file and replays them to the app;
    larger ones get 413, and with a ``budget`` a body that finds it spent gets 503 (see the module doc)."""

    def __init__(self, app: Callable, max_bytes: int, budget: MemoryBudget | None = None) -> None:
        self.app, self.max_bytes, self.budget = app, max_bytes, budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._drain(receive, 0)
            return await self._reject(send, 413, self._too_large(int(declared)))
        held = None
        if self.budget is not None:
            try:
                held = self.budget.reserve(BODY_RAM_BYTES)
            except BudgetFull as err:
                await self._drain(receive, 0)
                return await self._reject(send, 503, str(err), [(b"retry-after", str(err.retry_after).encode())])
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_RAM_BYTES)
        try:
            size = await self._spool(receive, spool)
            if size is None:  # the client went away
                return None
            if size > self.max_bytes:
                return await self._reject(send, 413, self._too_large(size))
            spool.seek(0)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    chunk = spool.read(REPLAY_CHUNK)
                    replayed = spool.tell() >= size
                    return {"type": "http.request", "body": chunk, "more_body": not replayed}
                return await receive()

            return await self.app(scope, replay, send)
        finally:
            spool.close()
            if held is not None:
                self.budget.release(held)

    async def _spool(self, receive: Receive, spool: Any) -> int | None:
        """Write the body into ``spool``; its size (above the limit: drained, not written), None on a disconnect."""
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body = message.get("body", b"")
            size += len(body)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                if more:
                    await self._drain(receive, size)
                return size
            spool.write(body)
        return size

    def _too_large(self, size: int) -> str:
        return (f"upload too large: {size} bytes; the limit is {self.max_bytes} bytes "
                f"({self.max_bytes / 2**20:.1f} MiB)")

    async def _drain(self, receive: Receive, size: int) -> None:
        while size <= DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _reject(self, send: Send, status: int, detail: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), *(headers or [])]})
        await send({"type": "http.response.body", "body": body})
