"""Triage: an angry or urgent message raises its ticket's priority (never lowers it),
re-applies the SLA, and leaves a ``support.ticket.triaged`` event saying why."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bizos.ai.extract.classify import Classification, parse_classification
from bizos.core.db import Database
from bizos.core.errors import NotFound
from bizos.modules.support.sla.triage import apply_classification, raised_priority, triage
from bizos.modules.support.tickets.models import Ticket, TicketMessage
from tests.conftest import TenantLogin
from tests.modules.support.test_sla_factories import (
    MONDAY_10,
    events_of,
    load_ticket,
    make_message,
    make_ticket,
    owner_ctx,
)


async def run_triage(
    db: Database, tenant: TenantLogin, ticket: Ticket, message: TicketMessage
) -> Classification:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        row = await session.merge(ticket)
        msg = await session.merge(message)
        return await triage(session, owner_ctx(tenant), row, msg)


async def test_an_angry_message_raises_priority_and_pulls_the_sla_in(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant)
    message = await make_message(
        db,
        tenant,
        ticket.id,
        "This is absolutely unacceptable. Third time I write and nobody has answered!",
        subject="Still no answer",
    )
    result = await run_triage(db, tenant, ticket, message)
    assert result.sentiment == "negative" and result.sentiment_score <= -0.5
    reread = await load_ticket(db, tenant, ticket.id)
    assert reread.priority == "high"
    assert (reread.sentiment, reread.intent) == ("negative", "complaint")
    assert reread.first_response_due_at is not None and ticket.first_response_due_at is not None
    assert reread.first_response_due_at < ticket.first_response_due_at  # 4 h instead of 8
    [event] = await events_of(db, tenant, "support.ticket.triaged")
    assert event["priority_before"] == "normal" and event["priority"] == "high"
    assert event["source"] == "local" and event["message_id"] == message.id
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        stored = await session.scalar(
            sa.select(TicketMessage).where(TicketMessage.id == message.id)
        )
    assert stored is not None and stored.sentiment == "negative"
    assert stored.intent == "complaint" and stored.sentiment_score == result.sentiment_score


async def test_an_urgent_message_on_a_high_ticket_makes_it_urgent(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant, priority="high")
    message = await make_message(db, tenant, ticket.id, "Please refund me asap, thank you.")
    result = await run_triage(db, tenant, ticket, message)
    assert result.urgent and result.intent == "refund"
    reread = await load_ticket(db, tenant, ticket.id)
    assert reread.priority == "urgent"
    assert reread.first_response_due_at == MONDAY_10 + dt.timedelta(hours=1)


async def test_a_calm_message_leaves_priority_alone_and_a_happy_one_never_lowers_it(
    db: Database, tenant: TenantLogin
) -> None:
    calm = await make_ticket(db, tenant)
    await run_triage(
        db, tenant, calm, await make_message(db, tenant, calm.id, "Where is my parcel?")
    )
    assert (await load_ticket(db, tenant, calm.id)).priority == "normal"
    urgent = await make_ticket(db, tenant, priority="urgent")
    happy = await make_message(db, tenant, urgent.id, "Thank you so much, you are amazing!")
    assert (await run_triage(db, tenant, urgent, happy)).sentiment == "positive"
    reread = await load_ticket(db, tenant, urgent.id)
    assert (reread.priority, reread.intent) == ("urgent", "praise")


@pytest.mark.parametrize(
    ("current", "sentiment", "score", "urgent", "expected"),
    [
        ("low", "negative", -0.6, False, "high"),
        ("normal", "negative", -0.4, False, "normal"),  # negative, but not -0.5
        ("normal", "neutral", 0.0, True, "high"),
        ("high", "neutral", 0.0, True, "urgent"),
        ("normal", "negative", -0.7, True, "urgent"),
        ("urgent", "positive", 0.9, False, "urgent"),
        ("high", "negative", -0.9, False, "high"),
    ],
)
def test_priority_rules(
    current: str, sentiment: str, score: float, urgent: bool, expected: str
) -> None:
    c = Classification(sentiment=sentiment, sentiment_score=score, intent="other", urgent=urgent)
    assert raised_priority(current, c) == expected


async def test_a_provider_classification_is_applied_to_the_latest_message(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant)
    older = await make_message(db, tenant, ticket.id, "Hello", created_at=MONDAY_10)
    newer = await make_message(
        db, tenant, ticket.id, "Hi", created_at=MONDAY_10 + dt.timedelta(minutes=5)
    )
    answer = (
        'Here you go:\n```json\n{"sentiment": "negative", "sentiment_score": -0.8, '
        '"intent": "cancel", "urgent": true, "signals": ["threat"]}\n```'
    )
    classification = parse_classification(answer)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        # an older message's reading is kept on the message but does not steer the ticket
        await apply_classification(session, owner_ctx(tenant), ticket.id, older.id, classification)
    reread = await load_ticket(db, tenant, ticket.id)
    assert (reread.priority, reread.intent, reread.version) == ("normal", None, ticket.version)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await apply_classification(session, owner_ctx(tenant), ticket.id, newer.id, classification)
    reread = await load_ticket(db, tenant, ticket.id)
    assert (reread.priority, reread.intent, reread.sentiment) == ("urgent", "cancel", "negative")
    assert reread.version == ticket.version + 1
    events = await events_of(db, tenant, "support.ticket.triaged")
    assert [(e["source"], e["priority"]) for e in events] == [
        ("provider", "normal"),
        ("provider", "urgent"),
    ]


async def test_another_tenants_ticket_or_message_is_not_found(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await make_ticket(db, other_tenant)
    their_message = await make_message(db, other_tenant, theirs.id, "URGENT!!!")
    mine = await make_ticket(db, tenant)
    c = Classification(sentiment="negative", sentiment_score=-1.0, intent="other", urgent=True)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        with pytest.raises(NotFound):
            await apply_classification(session, owner_ctx(tenant), theirs.id, their_message.id, c)
        with pytest.raises(NotFound):
            await apply_classification(session, owner_ctx(tenant), mine.id, their_message.id, c)
    assert (await load_ticket(db, other_tenant, theirs.id)).priority == "normal"


@pytest.mark.parametrize("bad", ["", "no json here", "[1, 2]", "{not json}"])
def test_an_unreadable_provider_answer_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_classification(bad)


def test_a_provider_answer_with_odd_labels_is_tamed() -> None:
    c = parse_classification(
        '{"sentiment": "furious", "sentiment_score": -7, "intent": "lawsuit", "urgent": "yes"}'
    )
    assert (c.sentiment, c.sentiment_score, c.intent, c.urgent) == (
        "negative",
        -1.0,
        "other",
        False,
    )
