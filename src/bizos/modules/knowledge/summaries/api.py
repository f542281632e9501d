"""Summarize (JSON or SSE).

``POST /api/v1/kb/summarize`` holds no database transaction while models run (the
service opens short units of work itself), so it takes the context, not a session.
With ``Accept: text/event-stream`` the document is loaded and the budget checked first
(404, 422 and 429 are ordinary problem responses); then the stream carries ``progress``
events ``{"percent": n}`` (rising, ending at 100) and a ``complete`` event with the body
the JSON form returns, or an ``error`` event with a problem body if the work fails
midway. A client that goes away stops the work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from bizos.api.deps import Ctx
from bizos.core.auth import KbRead
from bizos.core.errors import ProblemError
from bizos.modules.knowledge.summaries import service as summaries
from bizos.modules.knowledge.summaries.schemas import SummarizeRequest, SummaryRead

log = structlog.get_logger("bizos.knowledge.summaries")

router = APIRouter(tags=["knowledge"])

EVENT_STREAM = "text/event-stream"
# A comment line this often keeps proxies from closing a stream while a model thinks.
KEEPALIVE_SECONDS = 15.0


def _wants_stream(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip() == EVENT_STREAM for part in accept.split(","))


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.post(
    "/api/v1/kb/summarize",
    response_model=SummaryRead,
    responses={
        200: {
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
            "description": "The summary; with `Accept: text/event-stream`, `progress` events "
            "`{percent}` then a `complete` event carrying this body.",
        }
    },
)
async def summarize(
    body: SummarizeRequest, _: KbRead, ctx: Ctx, request: Request
) -> SummaryRead | Response:
    """Summarize a knowledge-base document, optionally focused on ``query``."""
    document = await summaries.load_document(ctx, body.document_id)
    if not _wants_stream(request):
        return await summaries.summarize(ctx, document, query=body.query)
    return StreamingResponse(
        _stream(ctx, document, body.query, request.url.path),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    ctx: Any, document: summaries.DocumentText, query: str | None, path: str
) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def progress(percent: int) -> None:
        await queue.put(sse("progress", {"percent": percent}))

    async def work() -> None:
        try:
            result = await summaries.summarize(ctx, document, query=query, on_progress=progress)
            await queue.put(sse("progress", {"percent": 100}))
            await queue.put(sse("complete", result.model_dump(mode="json")))
        except ProblemError as exc:
            await queue.put(sse("error", exc.to_problem(instance=path)))
        except Exception:
            log.exception("kb.summary.failed", document_id=document.id)
            problem = {
                "type": "about:blank",
                "title": "Internal server error",
                "status": 500,
                "detail": "the summary could not be made; try again",
                "instance": path,
            }
            await queue.put(sse("error", problem))
        finally:
            await queue.put(None)

    task = asyncio.create_task(work())
    try:
        yield sse("progress", {"percent": 0})
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                break
            yield item
    finally:
        if not task.done():
            task.cancel()  # the client left: stop calling models for nobody
