"""The request body limit (a gateway middleware): a body over the limit is refused with
413 before anything parses it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bizos.api.asgi import header, send_problem

log = structlog.get_logger("bizos.api")

# --- request body limit ---------------------------------------------------------------


class BodyLimitMiddleware:
    """Refuse a body over ``max_bytes`` with 413 problem+json before anything parses it.

    The body is read here (up to the limit) and replayed to the app, so a declared length
    and a chunked upload are held to the same limit and nothing downstream sees a partial
    body.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_max_bytes: int | None = None,
        upload_paths: Iterable[str] = (),
        larger: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes
        self.upload_paths = frozenset(upload_paths)
        # Path prefixes whose bodies may be larger than max_bytes (mail, documents).
        self.larger = dict(larger or {})

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if scope["path"].rstrip("/") in self.upload_paths:
            await self._stream_upload(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app will see the disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int | None = None) -> None:
        await send_problem(
            send,
            413,
            "Payload too large",
            f"the request body is larger than {limit or self.max_bytes} bytes",
            instance=scope["path"],
        )

    async def _stream_upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """File uploads (CSV imports) are large: counted as they stream to the app, which
        spools them to disk, instead of being held here. Past the limit the body read
        raises a 413, answered here if the app had not begun its response."""
        limit = self.upload_max_bytes
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        size = 0
        started = False

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise StarletteHTTPException(
                        413, f"the request body is larger than {limit} bytes"
                    )
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except StarletteHTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await self._refuse(scope, send, limit)
