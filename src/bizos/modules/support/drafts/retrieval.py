"""What a draft rests on: KB passages and similar resolved tickets.

Knowledge-base passages come from the knowledge module's search. Precedent comes from
the tenant's resolved (or closed) tickets: each is embedded once — its subject, the
customer's question and our last answer — with the retrieval embedder knowledge search
uses (:mod:`bizos.ai.termvectors`, recorded by name per vector) and kept in
``support_ticket_vectors``; a new message is compared with all of them by cosine in the
TF-IDF space fitted on the tenant's resolved tickets. A ticket resolved before this
index existed, or embedded by another embedder, is embedded the first time a draft looks
for precedent (a bounded batch per draft), and a ticket that is resolved again after
more messages is re-embedded when its text changed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.ai.termvectors import TermEmbedder, retrieval_embedder
from bizos.ai.types import Source
from bizos.core.context import Context
from bizos.core.db import dialect_insert, utcnow
from bizos.core.ids import new_id
from bizos.modules.knowledge.documents import service as knowledge
from bizos.modules.support.drafts.models import TicketVector
from bizos.modules.support.tickets.models import Ticket, TicketMessage

log = structlog.get_logger("bizos.support.drafts")

RESOLVED = ("resolved", "closed")
KB_PASSAGES = 4
SIMILAR_TICKETS = 3
# Cosine (TF-IDF fitted on the tenant's resolved tickets) below which a past ticket is
# not precedent. Measured on the demo desk (16 resolved tickets, the 4 open ones asking):
# the same matter scores 0.17-0.27 (skip a delivery / pause my subscription 0.17, a
# grinder refund / a returned kettle 0.21, a missed wholesale delivery / the wholesale
# account 0.24); the question no past ticket answers (decaf) at most 0.08; among the
# resolved, each against the others, unrelated pairs mostly under 0.14 (at most 0.17,
# a double charge against a cancelled subscription: both about a subscription's money).
MIN_SIMILARITY = 0.15
# Resolved tickets embedded per draft when the index has gaps (keeps a draft fast).
BACKFILL_BATCH = 200
# How much of a past conversation a source carries.
SOURCE_CHARS = 1200
QUERY_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Precedent:
    """A resolved ticket similar to the message being answered."""

    ticket_id: str
    number: str
    subject: str
    question: str
    answer: str
    score: float

    def as_source(self) -> Source:
        text = f"Customer asked: {self.question}\nWe answered: {self.answer}"
        return Source(
            title=f"Resolved ticket {self.number}: {self.subject}",
            text=text[:SOURCE_CHARS],
            document_id=None,
            chunk_id=None,
            kind="ticket",
            score=round(self.score, 4),
        )


def _embedder() -> TermEmbedder:
    return retrieval_embedder()


async def knowledge_sources(
    session: AsyncSession, ctx: Context, query: str, *, limit: int = KB_PASSAGES
) -> list[Source]:
    """The knowledge-base passages a draft reads for ``query``, best first (knowledge
    search's context floor: the answerer weighs them and declines by itself)."""
    if not query.strip():
        return []
    hits = await knowledge.search(session, ctx, query[:QUERY_CHARS], limit=limit)
    return [
        Source(
            title=hit.title if not hit.heading else f"{hit.title} — {hit.heading}",
            text=hit.text,
            document_id=hit.document_id,
            chunk_id=hit.chunk_id,
            kind="kb",
            score=round(float(hit.score), 4),
        )
        for hit in hits
    ]


async def similar_tickets(
    session: AsyncSession,
    ctx: Context,
    query: str,
    *,
    exclude_ticket_id: str,
    limit: int = SIMILAR_TICKETS,
) -> list[Precedent]:
    """Resolved tickets of this tenant whose conversation resembles ``query``, best
    first. Call in a write transaction: gaps in the ticket index are filled here."""
    if not query.strip():
        return []
    embedder = _embedder()
    await backfill_vectors(session, ctx, embedder)
    rows = (
        await session.execute(
            sa.select(TicketVector.ticket_id, TicketVector.embedding)
            .join(Ticket, Ticket.id == TicketVector.ticket_id)
            .where(
                TicketVector.tenant_id == ctx.require_tenant(),
                TicketVector.embedding_model == embedder.name,
                TicketVector.ticket_id != exclude_ticket_id,
                Ticket.tenant_id == ctx.require_tenant(),
                Ticket.status.in_(RESOLVED),
            )
        )
    ).all()
    if not rows:
        return []
    scores = embedder.space([blob for _, blob in rows]).similarities(query[:QUERY_CHARS])
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i][0]))
    best = [i for i in order[:limit] if scores[i] >= MIN_SIMILARITY]
    if not best:
        return []
    ids = [rows[i][0] for i in best]
    conversations = await _conversations(session, ctx, ids)
    out = []
    for i in best:
        ticket_id = rows[i][0]
        if ticket_id in conversations:
            number, subject, question, answer = conversations[ticket_id]
            out.append(Precedent(ticket_id, number, subject, question, answer, float(scores[i])))
    return out


async def backfill_vectors(session: AsyncSession, ctx: Context, embedder: TermEmbedder) -> int:
    """Embed resolved tickets that have no vector yet (at most ``BACKFILL_BATCH``)."""
    missing = list(
        await session.scalars(
            sa.select(Ticket.id)
            .outerjoin(
                TicketVector,
                sa.and_(
                    TicketVector.ticket_id == Ticket.id,
                    TicketVector.tenant_id == Ticket.tenant_id,
                    TicketVector.embedding_model == embedder.name,
                ),
            )
            .where(
                Ticket.tenant_id == ctx.require_tenant(),
                Ticket.status.in_(RESOLVED),
                TicketVector.id.is_(None),
            )
            .order_by(Ticket.resolved_at.desc(), Ticket.id)
            .limit(BACKFILL_BATCH)
        )
    )
    if missing:
        await index_tickets(session, ctx, missing, embedder=embedder)
    return len(missing)


async def index_tickets(
    session: AsyncSession,
    ctx: Context,
    ticket_ids: Sequence[str],
    *,
    embedder: TermEmbedder | None = None,
) -> int:
    """(Re-)embed these tickets' conversations; unchanged texts are left alone.
    Returns how many vectors were written."""
    embedder = embedder or _embedder()
    conversations = await _conversations(session, ctx, ticket_ids)
    if not conversations:
        return 0
    existing = dict(
        (
            await session.execute(
                sa.select(TicketVector.ticket_id, TicketVector.text_sha256).where(
                    TicketVector.tenant_id == ctx.require_tenant(),
                    TicketVector.embedding_model == embedder.name,
                    TicketVector.ticket_id.in_(list(conversations)),
                )
            )
        ).all()
    )
    texts: dict[str, str] = {}
    for ticket_id, (_, subject, question, answer) in conversations.items():
        text = f"{subject}\n{question}\n{answer}"[:QUERY_CHARS]
        if existing.get(ticket_id) != _sha(text):
            texts[ticket_id] = text
    if not texts:
        return 0
    vectors = await asyncio.to_thread(embedder.vectors, list(texts.values()))
    tenant_id = ctx.require_tenant()
    for (ticket_id, text), vector in zip(texts.items(), vectors, strict=True):
        values = {
            "tenant_id": tenant_id,
            "ticket_id": ticket_id,
            "embedding_model": embedder.name,
            "embedding": vector,
            "text_sha256": _sha(text),
        }
        insert = dialect_insert(session, TicketVector).values(id=new_id(), **values)
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["tenant_id", "ticket_id", "embedding_model"],
                set_={
                    "embedding": values["embedding"],
                    "text_sha256": values["text_sha256"],
                    "updated_at": utcnow(),
                },
            )
        )
    log.info("support.tickets_indexed", count=len(texts))
    return len(texts)


async def _conversations(
    session: AsyncSession, ctx: Context, ticket_ids: Sequence[str]
) -> dict[str, tuple[str, str, str, str]]:
    """ticket id → (number, subject, first customer message, our last answer)."""
    if not ticket_ids:
        return {}
    tenant_id = ctx.require_tenant()
    tickets = {
        t.id: t
        for t in await session.scalars(
            sa.select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id.in_(ticket_ids))
        )
    }
    messages = await session.execute(
        sa.select(TicketMessage.ticket_id, TicketMessage.direction, TicketMessage.body)
        .where(
            TicketMessage.tenant_id == tenant_id,
            TicketMessage.ticket_id.in_(list(tickets)),
            TicketMessage.direction.in_(("inbound", "outbound")),
        )
        .order_by(TicketMessage.created_at, TicketMessage.id)
    )
    question: dict[str, str] = {}
    answer: dict[str, str] = {}
    for ticket_id, direction, body in messages.all():
        if direction == "inbound":
            question.setdefault(ticket_id, body)
        else:
            answer[ticket_id] = body
    return {
        ticket_id: (
            t.number,
            t.subject,
            _clip(question.get(ticket_id, "")),
            _clip(answer.get(ticket_id, "")),
        )
        for ticket_id, t in tickets.items()
    }


def _clip(text: str, limit: int = SOURCE_CHARS // 2) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
