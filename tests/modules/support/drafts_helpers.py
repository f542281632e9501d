"""Shared pieces of the draft and reply tests: tickets written straight to the database
(with the events inbound email would raise), knowledge passages, waiting for drafts,
and small stand-ins for the functions other parts of issue 5 provide while they are
still being written (each is installed only where the real one is missing).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from bizos.ai.types import Source
from bizos.core.context import Context
from bizos.core.db import Database, get_database, utcnow
from bizos.core.events import Event, append_event
from bizos.core.ids import new_id
from bizos.core.sequences import format_number, next_value
from bizos.modules.knowledge.models import KbChunk, KbDocument
from bizos.modules.support.models import Ticket, TicketMessage
from tests.conftest import TenantLogin

Json = dict[str, Any]
SUPPORT_ADDRESS = "support@acme.example"


# --- stand-ins --------------------------------------------------------------------------


class StandInEmbedder:
    """Word hashing into 384 dims, L2-normalised (the shape of C's LocalEmbedder)."""

    name = "local-hash-384"
    dim = 384

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vec = np.zeros(self.dim, dtype=np.float32)
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
                vec[h % self.dim] += 1.0
            norm = float(np.linalg.norm(vec)) or 1.0
            out.append((vec / norm).tolist())
        return out


def _to_blob(vec: Sequence[float]) -> bytes:
    return np.asarray(vec, dtype=np.float32).tobytes()


def _from_blob(blob: bytes) -> Any:
    return np.frombuffer(blob, dtype=np.float32)


@dataclass(frozen=True)
class StandInHit:
    document_id: str
    title: str
    chunk_id: str
    text: str
    score: float
    heading: str | None


async def _search(
    session: Any,
    ctx: Context,
    query: str,
    *,
    limit: int = 5,
    document_id: str | None = None,
    query_vector: Any = None,
) -> list[StandInHit]:
    words = set(re.findall(r"\w{4,}", query.lower()))
    rows = (
        await session.execute(
            sa.select(KbChunk, KbDocument.title).join(
                KbDocument, KbDocument.id == KbChunk.document_id
            )
        )
    ).all()
    scored = []
    for chunk, title in rows:
        overlap = len(words & set(re.findall(r"\w{4,}", chunk.text.lower())))
        if overlap:
            scored.append(
                StandInHit(chunk.document_id, title, chunk.id, chunk.text, overlap, chunk.heading)
            )
    scored.sort(key=lambda h: -h.score)
    return scored[:limit]


async def _mark_first_response(session: Any, ctx: Context, ticket: Ticket, at: Any) -> None:
    if ticket.first_responded_at is None:
        ticket.first_responded_at = at


async def _apply_classification(
    session: Any, ctx: Context, ticket_id: str, message_id: str, classification: Any
) -> None:
    ticket = await session.get(Ticket, ticket_id)
    ticket.sentiment = classification.sentiment
    ticket.intent = classification.intent


@dataclass(frozen=True)
class StandInResult:
    text: str
    call_id: str
    provider: str
    model: str
    template: str
    template_version: str
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    sources: tuple[Source, ...] = ()

    def provenance(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "template": self.template,
            "template_version": self.template_version,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "call_id": self.call_id,
        }


async def _generate(
    ctx: Context,
    *,
    feature: str,
    task: str,
    template: str,
    variables: Any,
    sources: Sequence[Source] = (),
    max_tokens: int = 800,
    related: Any = None,
) -> StandInResult:
    name = variables.get("customer_name") or "there"
    if sources:
        text = f"Hi {name},\n\n{sources[0].text}\n\nBest regards"
    else:
        text = f"Hi {name},\n\nI do not know yet; a member of the team will follow up."
    return StandInResult(
        text, new_id(), "local", "bizos-local-1", template, "1", 10, 10, Decimal(0)
    )


def _gateway_works() -> bool:
    from bizos.ai import chain, metering, privacy
    from bizos.ai.providers import local

    return (
        hasattr(chain, "run_chain")
        and hasattr(local, "LocalProvider")
        and hasattr(privacy, "redactor_for")
        and hasattr(metering, "record_call")
    )


def install_standins(patch: Any) -> list[str]:
    """Install stand-ins where the real functions are missing; ``patch(obj, name,
    value)`` sets one (monkeypatch.setattr, or setattr in a child process)."""
    from bizos.ai import embeddings, gateway
    from bizos.modules.knowledge import service as knowledge
    from bizos.modules.support.sla import service as sla
    from bizos.modules.support.sla import triage

    installed = []
    wanted = [
        (embeddings, "LocalEmbedder", StandInEmbedder),
        (embeddings, "to_blob", _to_blob),
        (embeddings, "from_blob", _from_blob),
        (knowledge, "search", _search),
        (sla, "mark_first_response", _mark_first_response),
        (triage, "apply_classification", _apply_classification),
    ]
    for module, name, value in wanted:
        if not hasattr(module, name):
            patch(module, name, value)
            installed.append(f"{module.__name__}.{name}")
    if not _gateway_works():
        patch(gateway, "generate", _generate)
        installed.append("bizos.ai.gateway.generate")
    return installed


@pytest.fixture
def standins(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return install_standins(
        lambda obj, name, value: monkeypatch.setattr(obj, name, value, raising=False)
    )


# --- data -------------------------------------------------------------------------------


async def make_ticket(
    db: Database,
    tenant_id: str,
    *,
    subject: str = "Where is my refund?",
    body: str = "I returned the blender two weeks ago and have not been refunded.",
    from_address: str | None = "ada@example.com",
    from_name: str | None = "Ada Lovelace",
    status: str = "new",
    assignee_id: str | None = None,
    header_message_id: str | None = None,
    references: Sequence[str] = (),
    announce: bool = True,
) -> tuple[str, str]:
    """A ticket with one inbound message (and ``support.ticket.created`` +
    ``support.message.received``, as inbound email raises them). Returns (ticket, message)."""
    ctx = Context(tenant_id=tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        n = await next_value(session, tenant_id, "support.tests.ticket")
        ticket = Ticket(
            tenant_id=tenant_id,
            number=format_number("T", n),
            subject=subject,
            status=status,
            customer_email=from_address,
            assignee_id=assignee_id,
            last_inbound_at=utcnow(),
            resolved_at=utcnow() if status in ("resolved", "closed") else None,
        )
        session.add(ticket)
        await session.flush()
        message = TicketMessage(
            tenant_id=tenant_id,
            ticket_id=ticket.id,
            direction="inbound",
            from_address=from_address,
            from_name=from_name,
            to_addresses=[SUPPORT_ADDRESS],
            subject=subject,
            body=body,
            header_message_id=header_message_id or f"<{new_id()}@mail.example.com>",
            references=list(references),
        )
        session.add(message)
        await session.flush()
        if announce:
            data = {"ticket_id": ticket.id, "number": ticket.number, "message_id": message.id}
            await append_event(
                session,
                ctx,
                "support.ticket.created",
                aggregate_type="ticket",
                aggregate_id=ticket.id,
                data=data,
            )
            await append_event(
                session,
                ctx,
                "support.message.received",
                aggregate_type="ticket",
                aggregate_id=ticket.id,
                data={"ticket_id": ticket.id, "message_id": message.id},
            )
        return ticket.id, message.id


async def add_message(
    db: Database,
    tenant_id: str,
    ticket_id: str,
    *,
    body: str,
    direction: str = "inbound",
    from_address: str | None = "ada@example.com",
    header_message_id: str | None = None,
    references: Sequence[str] = (),
    event: str | None = "support.message.received",
) -> str:
    ctx = Context(tenant_id=tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        message = TicketMessage(
            tenant_id=tenant_id,
            ticket_id=ticket_id,
            direction=direction,
            from_address=from_address,
            from_name="Ada Lovelace",
            to_addresses=[SUPPORT_ADDRESS],
            subject="Re: Where is my refund?",
            body=body,
            header_message_id=header_message_id or f"<{new_id()}@mail.example.com>",
            references=list(references),
            created_at=utcnow(),
        )
        session.add(message)
        await session.flush()
        if event is not None:
            await append_event(
                session,
                ctx,
                event,
                aggregate_type="ticket",
                aggregate_id=ticket_id,
                data={"ticket_id": ticket_id, "message_id": message.id},
            )
        return message.id


async def resolved_ticket(db: Database, tenant_id: str, *, question: str, answer: str) -> str:
    """A past ticket, resolved, with our answer on it."""
    ticket_id, _ = await make_ticket(
        db, tenant_id, subject="Refund question", body=question, status="resolved", announce=False
    )
    await add_message(db, tenant_id, ticket_id, body=answer, direction="outbound", event=None)
    return ticket_id


async def kb_passage(db: Database, tenant_id: str, *, title: str, text: str) -> tuple[str, str]:
    """A knowledge-base document of one chunk (as D's indexer stores them)."""
    from bizos.ai import embeddings

    embedder = embeddings.LocalEmbedder()
    [vector] = await embedder.embed([text])
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        doc = KbDocument(
            tenant_id=tenant_id,
            title=title,
            content_type="text/plain",
            text=text,
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            size_bytes=len(text),
            chunk_count=1,
            embedding_model=embedder.name,
        )
        session.add(doc)
        await session.flush()
        chunk = KbChunk(
            tenant_id=tenant_id,
            document_id=doc.id,
            ordinal=0,
            text=text,
            end_offset=len(text),
            embedding=embeddings.to_blob(vector),
            embedding_model=embedder.name,
        )
        session.add(chunk)
        await session.flush()
        return doc.id, chunk.id


# --- looking ----------------------------------------------------------------------------


async def drafts_of(client: httpx.AsyncClient, tenant: TenantLogin, ticket_id: str) -> list[Json]:
    r = await client.get(f"/api/v1/support/tickets/{ticket_id}/drafts", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def until_drafts(
    client: httpx.AsyncClient, tenant: TenantLogin, ticket_id: str, count: int = 1
) -> list[Json]:
    """Wait for the ticket to have ``count`` drafts (newest first)."""
    async with asyncio.timeout(60):
        while True:
            items = await drafts_of(client, tenant, ticket_id)
            if len(items) >= count:
                return items
            await asyncio.sleep(0.05)


async def events_of(db: Database, tenant_id: str, type_: str) -> list[Json]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event).where(Event.type == type_).order_by(Event.position)
        )
        return [dict(r.data) for r in rows]


def database() -> Database:
    return get_database()
