"""The demo tenant's support desk: three months of resolved tickets (the history the AI
draft flow learns from) and a few open ones waiting for an answer.

Customers are the CRM demo's contacts. Resolved history is written as it happened —
the customer's email, an agent's reply threaded to it within business hours (a couple
of conversations go back and forth twice; one first answer came late and carries its
SLA breach), resolved — numbered in the order the tickets arrived, with due times from
the tenant's default SLA policy. Its events are recorded as already handled and its
conversations indexed as precedent for drafts. The open tickets are filed the way
inbound mail files them (triage, SLA, ``support.ticket.created`` and
``support.message.received``), and those events are left for the workers, so
``bizos serve`` drafts their replies at start.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.events import NewEvent, payload
from bizos.core.ids import new_id
from bizos.core.pagination import PageParams
from bizos.demo.story import append_handled
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.identity import service as identity_service
from bizos.modules.support.drafts import retrieval
from bizos.modules.support.drafts.replies import reply_subject, thread_references
from bizos.modules.support.sla import service as sla
from bizos.modules.support.sla.hours import BusinessHours, add_business_minutes
from bizos.modules.support.sla.triage import TICKET_RULES
from bizos.modules.support.tickets import service as tickets
from bizos.modules.support.tickets.models import Ticket, TicketMessage

SUPPORT_ADDRESS = "support@northwind.example"


@dataclass(frozen=True, slots=True)
class Conversation:
    subject: str
    message: str
    reply: str | None  # None: still open
    intent: str
    sentiment: str = "neutral"
    priority: str = "normal"
    # Business minutes until our first answer (None: somewhere under every target).
    reply_minutes: int | None = None
    # The customer's answer to our reply, and ours to that.
    followup: tuple[str, str] | None = None


RESOLVED = [
    Conversation(
        "Where is my order?",
        "Hi, I ordered two bags of the Ethiopia Guji last Monday and tracking has not "
        "moved since Wednesday. Can you check?",
        "Thanks for your patience. Tracking had stalled for 5 business days, so we opened "
        "a claim with the carrier and sent a replacement today; you will get a new "
        "tracking link this afternoon. No need to wait for the claim.",
        "shipping",
    ),
    Conversation(
        "Refund for stale coffee",
        "The Colombia Huila I received tastes flat and papery. Roast date on the bag is "
        "six weeks ago. I'd like a refund please.",
        "Sorry about that — that bag should not have left us. Opened bags that taste "
        "wrong are refunded within 14 days of delivery, so we have refunded it to your "
        "card; it shows within 5 business days. Keep the bag for the photo in case the "
        "bank asks.",
        "refund",
        "negative",
    ),
    Conversation(
        "Pause my subscription",
        "We're travelling for most of next month. Can I pause my subscription?",
        "Of course. You can pause for up to 3 months from your account page; we have "
        "paused yours for 4 weeks from today. Enjoy the trip!",
        "cancel",
    ),
    Conversation(
        "Grinder stopped working",
        "My Baratza grinder bought from you in spring makes a noise and won't grind. "
        "What can I do?",
        "Grinders carry a 2-year warranty. Please send us a short video of the noise and "
        "your order number; we will send a prepaid label and repair or replace it, "
        "usually within 10 business days.",
        "technical",
        followup=(
            "Here is the video, order NW-004211. It grinds for a second, then clicks.",
            "Thanks, that sounds like a jammed burr carrier. The prepaid label is on its way "
            "by email; we will repair or replace it and send it back within 10 business days.",
        ),
    ),
    Conversation(
        "Wholesale account",
        "We are opening a small cafe in Kreuzberg in March. What are your wholesale terms?",
        "Congratulations on the cafe! Wholesale starts at 5 kg per delivery, new accounts "
        "pay on order for the first three deliveries and then get 30-day terms, and we "
        "include 2 hours of barista training. Shall we book a tasting?",
        "question",
        "positive",
    ),
    Conversation(
        "Damaged parcel",
        "The box arrived crushed and one bag had split open. Photos attached.",
        "Thank you for the photos — we are sending a replacement bag today at no cost. "
        "Sorry the carrier treated it like that.",
        "shipping",
        "negative",
    ),
    Conversation(
        "Invoice copy for accounting",
        "Could you send me a copy of last month's invoice with our VAT number on it?",
        "Attached is the corrected invoice with your VAT number. Future invoices will "
        "carry it automatically.",
        "billing",
        followup=(
            "Thank you! Could you also send the one from the month before?",
            "Of course, it is attached as well, also with your VAT number.",
        ),
    ),
    Conversation(
        "Which coffee for espresso?",
        "I just bought an espresso machine. Which of your coffees would you recommend?",
        "Start with the house espresso: 18 g in, 36 g out in 27-32 seconds, and rest the "
        "beans a week after the roast date. The Brazil Cerrado is a good second choice "
        "if you like it chocolatey.",
        "question",
        "positive",
    ),
    Conversation(
        "Charged twice",
        "I was charged twice for my subscription this week! Please fix this.",
        "You are right — a payment retry went through after the first charge succeeded. "
        "We have refunded the second charge; it shows within 5 business days. Sorry for "
        "the worry.",
        "billing",
        "negative",
        "high",
    ),
    Conversation(
        "Change delivery address",
        "I moved. Can you send my next subscription delivery to my new address?",
        "Done — your next delivery on Friday goes to the new address. You can also "
        "change it yourself from the account page before 09:00 on a roast day.",
        "question",
    ),
    Conversation(
        "Cancel subscription",
        "Please cancel my subscription, I'm drinking less coffee these days.",
        "We have cancelled your subscription; there is no fee. A delivery already "
        "roasted is still sent. Thank you for being with us!",
        "cancel",
    ),
    Conversation(
        "Return unopened kettle",
        "I received a kettle as a gift but already have one. Can I return it? It's unopened.",
        "Yes: unused equipment in its original packaging can be returned within 30 days. "
        "Change-of-mind returns are posted back by the customer; we refund as soon as "
        "it arrives.",
        "refund",
    ),
    Conversation(
        "Shipping to Switzerland",
        "Do you ship to Zurich and how long does it take?",
        "We do: EUR 14.90, 4-7 business days, and duties are paid on delivery.",
        "shipping",
    ),
    Conversation(
        "Great coffee!",
        "Just wanted to say the Kenya AA was the best coffee I've had all year. Thank you!",
        "That made our roaster's day — thank you! The next Kenya lot lands in spring.",
        "praise",
        "positive",
    ),
    Conversation(
        "Late delivery for the office",
        "Our office order did not arrive on Friday as promised and the team had no "
        "coffee this morning. This is the second time.",
        "We are sorry — the carrier missed the Friday pickup. We sent a new parcel by "
        "express this morning and credited the shipping on your account.",
        "complaint",
        "negative",
        "high",
        reply_minutes=330,  # over the 4-hour first-response target: a recorded breach
    ),
    Conversation(
        "Grind size for French press",
        "What grind should I choose for a French press?",
        "Choose coarse: it keeps the cup clean and stops the plunger from clogging. Brew "
        "4 minutes at 60 g per litre.",
        "question",
    ),
]

OPEN = [
    Conversation(
        "Refund for the grinder",
        "Hello, the grinder I returned two weeks ago arrived at your warehouse according "
        "to tracking but I still have not got my refund. When will it be processed?",
        None,
        "refund",
    ),
    Conversation(
        "URGENT: cafe out of coffee",
        "Our wholesale delivery did not come this morning and we open in an hour. We "
        "need coffee immediately or we lose the day. This is unacceptable.",
        None,
        "complaint",
        "negative",
        "urgent",
    ),
    Conversation(
        "Skip next delivery",
        "Can I skip my next subscription delivery? I still have a full bag.",
        None,
        "question",
    ),
    Conversation(
        "Do you sell decaf?",
        "Do you have a decaf coffee, and is it Swiss water process?",
        None,
        "question",
    ),
]


def _business_time(moment: dt.datetime, rng: random.Random) -> dt.datetime:
    """``moment`` moved to a weekday between 09:00 and 17:00 UTC (the default hours)."""
    while moment.weekday() >= 5:
        moment += dt.timedelta(days=1)
    return moment.replace(
        hour=rng.randint(9, 15), minute=rng.randint(0, 59), second=0, microsecond=0
    )


def _header_id(domain: str) -> str:
    return f"<{new_id()}@{domain}>"


def _event(ticket: Ticket, type_: str, at: dt.datetime, **data: Any) -> NewEvent:
    return NewEvent(
        type=type_,
        aggregate_type="ticket",
        aggregate_id=ticket.id,
        data={"ticket_id": ticket.id, **data},
        version=ticket.version,
        occurred_at=at,
    )


def _received(
    ticket: Ticket, at: dt.datetime, message: TicketMessage, *, reopened: bool
) -> NewEvent:
    """The customer's message came in: it opened the ticket, or reopened it."""
    return _event(
        ticket,
        "support.message.received",
        at,
        message_id=message.id,
        direction="inbound",
        created=not reopened,
        reopened=reopened,
    )


@dataclass(slots=True)
class _Desk:
    """What every demo ticket needs: the tenant, its SLA hours, agents, the events."""

    ctx: Context
    hours: BusinessHours | None
    agents: list[str]
    events: list[NewEvent]


async def _customer_message(
    session: AsyncSession,
    desk: _Desk,
    ticket: Ticket,
    contact: Any,
    text: str,
    at: dt.datetime,
    parent: TicketMessage | None,
    conv: Conversation,
) -> TicketMessage:
    first_name = (contact.name or "").split(" ")[0]
    domain = (contact.email or "customer@mail.example").split("@")[1]
    message = await tickets.add_message(
        session,
        desk.ctx,
        ticket,
        direction="inbound",
        from_address=contact.email,
        from_name=contact.name,
        to_addresses=[SUPPORT_ADDRESS],
        cc_addresses=[],
        subject=conv.subject if parent is None else reply_subject(conv.subject, ticket.number),
        body=f"{text}\n\nThanks,\n{first_name}",
        header_message_id=_header_id(f"mail.{domain}"),
        in_reply_to=parent.header_message_id if parent is not None else None,
        references=[] if parent is None else [*parent.references, parent.header_message_id],
        sent_at=at,
        sentiment=conv.sentiment,
        intent=conv.intent,
        created_at=at,
    )
    ticket.last_inbound_at = at
    return message


async def _agent_reply(
    session: AsyncSession,
    desk: _Desk,
    ticket: Ticket,
    contact: Any,
    text: str,
    at: dt.datetime,
    conversation: list[TicketMessage],
) -> TicketMessage:
    parent = conversation[-1]
    first_name = (contact.name or "").split(" ")[0]
    reply = await tickets.add_message(
        session,
        desk.ctx,
        ticket,
        direction="outbound",
        from_address=SUPPORT_ADDRESS,
        from_name="Northwind Support",
        to_addresses=[contact.email or ""],
        cc_addresses=[],
        subject=reply_subject(ticket.subject, ticket.number),
        body=f"Hi {first_name},\n\n{text}\n\nBest,\nNorthwind Support",
        header_message_id=_header_id("northwind.example"),
        in_reply_to=parent.header_message_id,
        references=thread_references(conversation, parent),
        author_id=ticket.assignee_id,
        created_at=at,
    )
    ticket.last_outbound_at = at
    ticket.version += 1
    desk.events.append(
        _event(
            ticket,
            "support.ticket.replied",
            at,
            message_id=reply.id,
            email_message_id=reply.header_message_id,
            is_ai_drafted=False,
            draft_id=None,
            edited=None,
        )
    )
    return reply


def _first_response(desk: _Desk, ticket: Ticket, at: dt.datetime) -> None:
    """Record the first answer, and its breach when it came after the target (as
    ``sla.mark_first_response`` does live)."""
    ticket.first_responded_at = at
    due = ticket.first_response_due_at
    if due is None or at <= due:
        return
    ticket.sla_breached = True
    ticket.sla_breaches = [
        {"kind": "first_response", "due_at": due.isoformat(), "detected_at": at.isoformat()}
    ]
    ticket.version += 1
    desk.events.append(
        _event(
            ticket,
            "support.sla.breached",
            at,
            number=ticket.number,
            kind="first_response",
            due_at=due.isoformat(),
            **payload(ticket, "priority", "assignee_id"),
        )
    )


async def _file(
    session: AsyncSession,
    desk: _Desk,
    conv: Conversation,
    contact: Any,
    received: dt.datetime,
    assignee_id: str | None,
) -> Ticket:
    """The conversation's ticket, opened by the support service as of ``received``."""
    ticket = await tickets.open_ticket(
        session,
        desk.ctx,
        subject=conv.subject,
        channel="email",
        contact_id=contact.id,
        customer_email=contact.email,
        priority=conv.priority,
        assignee_id=assignee_id,
    )
    ticket.created_at = ticket.updated_at = received
    return ticket


async def _resolved_ticket(
    session: AsyncSession,
    desk: _Desk,
    conv: Conversation,
    contact: Any,
    received: dt.datetime,
    rng: random.Random,
) -> Ticket:
    assert conv.reply is not None
    assignee = rng.choice(desk.agents) if desk.agents else None
    ticket = await _file(session, desk, conv, contact, received, assignee)
    ticket.sentiment, ticket.intent = conv.sentiment, conv.intent
    await sla.apply_sla(session, desk.ctx, ticket, received)
    question = await _customer_message(
        session, desk, ticket, contact, conv.message, received, None, conv
    )
    created = {"number": ticket.number, "message_id": question.id, "contact_id": contact.id}
    desk.events += [
        _event(
            ticket,
            "support.ticket.created",
            received,
            **created,
            priority=ticket.priority,
            channel="email",
        ),
        _received(ticket, received, question, reopened=False),
    ]
    minutes = conv.reply_minutes or rng.randint(15, 200)
    answered = add_business_minutes(received, minutes, desk.hours)
    conversation = [question]
    conversation.append(
        await _agent_reply(session, desk, ticket, contact, conv.reply, answered, conversation)
    )
    _first_response(desk, ticket, answered)
    last = answered
    if conv.followup is not None:
        last = await _followup(session, desk, ticket, contact, conv, conversation, last, rng)
    resolved = add_business_minutes(last, rng.randint(30, 480), desk.hours)
    ticket.status = "resolved"
    ticket.resolved_at = ticket.updated_at = resolved
    ticket.version += 1
    desk.events.append(_event(ticket, "support.ticket.resolved", resolved))
    return ticket


async def _followup(
    session: AsyncSession,
    desk: _Desk,
    ticket: Ticket,
    contact: Any,
    conv: Conversation,
    conversation: list[TicketMessage],
    answered: dt.datetime,
    rng: random.Random,
) -> dt.datetime:
    """The customer writes back after our answer (given at ``answered``) and we answer
    again; returns when."""
    assert conv.followup is not None
    asked, answer = conv.followup
    back = add_business_minutes(answered, rng.randint(30, 240), desk.hours)
    message = await _customer_message(
        session, desk, ticket, contact, asked, back, conversation[-1], conv
    )
    conversation.append(message)
    # Our answer left the ticket pending; the customer's reopens it, as live mail does.
    ticket.reopened_count += 1
    ticket.version += 1
    desk.events.append(
        _event(
            ticket,
            "support.ticket.reopened",
            back,
            message_id=message.id,
            previous_status="pending",
            number=ticket.number,
        )
    )
    desk.events.append(_received(ticket, back, message, reopened=True))
    last = add_business_minutes(back, rng.randint(15, 120), desk.hours)
    conversation.append(
        await _agent_reply(session, desk, ticket, contact, answer, last, conversation)
    )
    return last


async def _open_ticket(
    session: AsyncSession, desk: _Desk, conv: Conversation, contact: Any, received: dt.datetime
) -> Ticket:
    """A ticket filed as inbound mail files it: triage, SLA and its events, which the
    workers pick up (the AI draft flow)."""
    ticket = await _file(session, desk, conv, contact, received, None)
    message = await _customer_message(
        session, desk, ticket, contact, conv.message, received, None, conv
    )
    message.sentiment = message.intent = None  # triage reads it, as it does live mail
    await tickets.announce_ticket(session, desk.ctx, ticket, message, TICKET_RULES)
    return ticket


async def _agents(session: AsyncSession, ctx: Context) -> list[str]:
    """The active admins and members: who answers support."""
    found = []
    for role in ("admin", "member"):
        page = await identity_service.list_users(
            session, ctx, page=PageParams(limit=50), role=role, is_active=True
        )
        found += [u.id for u in page.items]
    return found


async def seed_support_history(session: AsyncSession, ctx: Context, rng: random.Random) -> None:
    now = utcnow()
    found, _ = await contacts_service.list_contacts(session, ctx, page=PageParams(limit=200))
    contacts = [c for c in found if c.email and c.name]
    rng.shuffle(contacts)
    policy = await sla.default_policy(session, ctx)
    hours = BusinessHours.from_config(policy.business_hours) if policy.business_hours else None
    desk = _Desk(ctx=ctx, hours=hours, agents=await _agents(session, ctx), events=[])
    # Numbers follow arrival: the history oldest first, then today's open tickets.
    history = sorted(
        (
            (_business_time(now - dt.timedelta(days=rng.randint(3, 90)), rng), conv)
            for conv in RESOLVED
        ),
        key=lambda pair: pair[0],
    )
    resolved = [
        await _resolved_ticket(session, desk, conv, contacts[i % len(contacts)], received, rng)
        for i, (received, conv) in enumerate(history)
    ]
    await session.flush()
    await append_handled(session, ctx, desk.events)
    await retrieval.index_tickets(session, ctx, [t.id for t in resolved])
    arrivals = sorted(now - dt.timedelta(minutes=rng.randint(10, 240)) for _ in OPEN)
    for i, (received, conv) in enumerate(zip(arrivals, OPEN, strict=True)):
        contact = contacts[(len(history) + i) % len(contacts)]
        await _open_ticket(session, desk, conv, contact, received)
