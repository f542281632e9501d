"""``Idempotency-Key`` on authenticated POSTs (the third gateway middleware): the first
response is stored and replayed for a retry with the same body."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bizos.api.asgi import SANE_IDEMPOTENCY_KEY, credential_key, header, send_problem
from bizos.core.db import get_database
from bizos.core.idempotency import (
    IdempotencyStore,
    Outcome,
    StoredResponse,
    request_fingerprint,
)

log = structlog.get_logger("bizos.api")

# --- 3. idempotency keys -------------------------------------------------------------


class IdempotencyMiddleware:
    """Replays the first response of an authenticated POST for a retry with the same
    ``Idempotency-Key`` and body; 422 if the body differs; 409 while the first runs.

    The response is recorded *before* it is sent, so a client that got an answer always
    gets the same answer on retry. Failures on our side (5xx) and throttling (429) are not
    recorded: the retry runs afresh. Streams (``text/event-stream``) are passed through
    unrecorded.
    """

    def __init__(self, app: ASGIApp, *, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = header(scope, b"idempotency-key")
        owner = credential_key(scope) if key is not None else None
        if key is None or owner is None:
            # No key, or no credential to own it: the route itself answers (401 if needed).
            await self.app(scope, receive, send)
            return
        if not SANE_IDEMPOTENCY_KEY.match(key):
            await send_problem(
                send,
                422,
                "Validation failed",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                instance=scope["path"],
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "invalid key"}],
            )
            return
        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        fingerprint = request_fingerprint(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"), body
        )
        db = get_database()
        reservation = await self.store.reserve(
            db, owner_key=owner, key=key, fingerprint=fingerprint
        )
        if reservation.outcome is Outcome.REPLAY and reservation.response is not None:
            await _replay(send, reservation.response)
            return
        if reservation.outcome is Outcome.MISMATCH:
            await send_problem(
                send,
                422,
                "Idempotency key reused",
                "this Idempotency-Key was used for a different request; use a new key",
                instance=scope["path"],
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}],
            )
            return
        if reservation.outcome is not Outcome.PROCEED or reservation.record_id is None:
            await send_problem(
                send,
                409,
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry later",
                instance=scope["path"],
                headers=[("Retry-After", "1")],
            )
            return
        await self._run_and_record(scope, receive, send, body, owner, key, reservation.record_id)

    async def _run_and_record(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        owner: str,
        key: str,
        record_id: str,
    ) -> None:
        db = get_database()
        recorder = _ResponseRecorder(send)
        try:
            await self.app(scope, _replaying(body, receive), recorder.send)
        except BaseException:
            await _shielded(self.store.release(db, record_id=record_id))
            raise
        response = recorder.response()
        if response is None:
            # Streamed, failed on our side, throttled, or never answered: let a retry run.
            await _shielded(self.store.release(db, record_id=record_id))
            await recorder.flush()
            return
        try:
            await self.store.complete(
                db, record_id=record_id, owner_key=owner, key=key, response=response
            )
        except Exception:
            # The work is done and committed; the reservation stays until its lease ends.
            log.exception("idempotency.record_failed", record_id=record_id)
        await recorder.flush()


class _ResponseRecorder:
    """Holds a response back until it is recorded; streams pass straight through."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._complete = False
        self._streaming = False

    async def send(self, message: Message) -> None:
        if self._streaming:
            await self._send(message)
            return
        if message["type"] == "http.response.start":
            if not _recordable(message):
                self._streaming = True
                await self._send(message)
                return
            self._start = message
        elif message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        else:
            await self._send(message)

    def response(self) -> StoredResponse | None:
        if self._streaming or self._start is None or not self._complete:
            return None
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in self._start.get("headers", ())
            if k.lower() != b"set-cookie"
        ]
        return StoredResponse(self._start["status"], headers, b"".join(self._chunks))

    async def flush(self) -> None:
        if self._start is not None:
            await self._send(self._start)
            await self._send({"type": "http.response.body", "body": b"".join(self._chunks)})


def _recordable(start: Message) -> bool:
    status = int(start["status"])
    if status >= 500 or status == 429:
        return False
    for key, value in start.get("headers", ()):
        if key.lower() == b"content-type" and value.startswith(b"text/event-stream"):
            return False
    return True


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body we already read, then the real stream
    (which later reports the client's disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _replay(send: Send, response: StoredResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _shielded(coro: Any) -> None:
    """Run a clean-up to the end even if this request is being cancelled."""
    try:
        await asyncio.shield(asyncio.ensure_future(coro))
    except Exception:
        log.exception("idempotency.release_failed")
