"""Processing stored inbound email (``webhooks.inbound.received`` for provider ``email``).

The webhook and the SMTP receiver only store the raw message; this subscriber files it,
once (the dispatcher's idempotency record commits with the ticket). A message that
cannot be parsed (or that the services refuse) is marked ``failed`` with the reason and
a task for the workspace owner; its partial writes are rolled back. It is not retried:
the same bytes would fail the same way.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.errors import ProblemError
from bizos.modules.identity import service as identity_service
from bizos.modules.support.inbound.mime import UnparseableEmail
from bizos.modules.support.inbound.service import ingest_email
from bizos.modules.webhooks.inbound.service import INBOUND_RECEIVED, finish_inbound, get_delivery
from bizos.modules.work import service as work_service

log = structlog.get_logger("bizos.support.inbound")

PROVIDER = "email"


async def _unprocessable(session: AsyncSession, ctx: Context, inbound_id: str, reason: str) -> None:
    await finish_inbound(session, inbound_id, status="failed", error=reason)
    await work_service.create_task(
        session,
        ctx,
        title="An inbound support email could not be processed",
        description=(
            f"A support email was received and stored but could not be filed as a ticket: "
            f"{reason}. The raw message is kept with the webhook delivery {inbound_id}."
        ),
        assignee_id=await identity_service.tenant_owner_id(session, ctx),
        priority="high",
        related_type="inbound_webhook",
        related_id=inbound_id,
        origin="support.inbound",
    )


async def process_inbound_email(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    if event.data.get("provider") != PROVIDER:
        return
    inbound = await get_delivery(session, str(event.data["inbound_id"]))
    if inbound.status != "received":
        return  # finished already (replayed by an admin, say)
    try:
        # A savepoint: a message that fails half-way leaves none of its writes behind.
        async with session.begin_nested():
            result = await ingest_email(session, ctx, inbound.body, inbound_id=inbound.id)
    except UnparseableEmail as exc:
        reason = str(exc)
    except ProblemError as exc:
        reason = exc.detail
    else:
        if result.ignored:
            await finish_inbound(session, inbound.id, status="ignored", error=result.ignored)
        else:
            await finish_inbound(session, inbound.id, status="processed")
        log.info("support.inbound_filed", inbound_id=inbound.id, **result.log_fields())
        return
    log.warning("support.inbound_failed", inbound_id=inbound.id)
    await _unprocessable(session, ctx, inbound.id, reason)


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe("support.inbound.process_email", INBOUND_RECEIVED, process_inbound_email)
