"""The demo tenant's support desk: three months of resolved tickets (the history the AI
draft flow learns from) and a few open ones waiting for an answer.

Customers are the CRM demo's contacts. Resolved history is written as it happened
(inbound message, the agent's reply a few business hours later, resolved), and its
events are recorded as already handled. The open tickets' ``support.ticket.created``
events are left for the workers, so ``bizos serve`` drafts their replies at start.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.events import NewEvent, append_events
from bizos.core.ids import new_id
from bizos.core.pagination import PageParams
from bizos.core.sequences import format_number, next_value
from bizos.modules.commerce.demo import mark_handled
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.support.models import Ticket, TicketMessage

SUPPORT_ADDRESS = "support@northwind.example"


@dataclass(frozen=True, slots=True)
class Conversation:
    subject: str
    message: str
    reply: str | None  # None: still open
    intent: str
    sentiment: str = "neutral"
    priority: str = "normal"


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
    """``moment`` moved to a weekday between 08:00 and 17:00 UTC."""
    while moment.weekday() >= 5:
        moment += dt.timedelta(days=1)
    return moment.replace(hour=rng.randint(8, 16), minute=rng.randint(0, 59), second=0)


async def seed_support_history(session: AsyncSession, ctx: Context, rng: random.Random) -> None:
    tenant_id = ctx.require_tenant()
    now = utcnow()
    found, _ = await contacts_service.list_contacts(session, ctx, page=PageParams(limit=200))
    contacts = [c for c in found if c.email and c.name]
    rng.shuffle(contacts)
    events: list[NewEvent] = []
    open_events: list[NewEvent] = []
    plan = [(c, True) for c in RESOLVED] + [(c, False) for c in OPEN]
    for index, (conv, resolved) in enumerate(plan):
        contact = contacts[index % len(contacts)]
        if resolved:
            received = _business_time(now - dt.timedelta(days=rng.randint(3, 90)), rng)
        else:
            received = now - dt.timedelta(minutes=rng.randint(10, 240))
        number = format_number("T", await next_value(session, tenant_id, "support.ticket"))
        ticket = Ticket(
            id=new_id(),
            tenant_id=tenant_id,
            number=number,
            subject=conv.subject,
            status="resolved" if resolved else "new",
            priority=conv.priority,
            channel="email",
            contact_id=contact.id,
            customer_email=contact.email,
            sentiment=conv.sentiment,
            intent=conv.intent,
            first_response_due_at=received + dt.timedelta(hours=8),
            resolution_due_at=received + dt.timedelta(days=3),
            last_inbound_at=received,
            created_at=received,
            updated_at=received,
        )
        session.add(ticket)
        first_name = (contact.name or "").split(" ")[0]
        inbound = TicketMessage(
            id=new_id(),
            tenant_id=tenant_id,
            ticket_id=ticket.id,
            direction="inbound",
            from_address=contact.email,
            from_name=contact.name,
            to_addresses=[SUPPORT_ADDRESS],
            subject=conv.subject,
            body=f"{conv.message}\n\nThanks,\n{first_name}",
            header_message_id=f"<{new_id()}@mail.{(contact.email or 'x@example').split('@')[1]}>",
            sentiment=conv.sentiment,
            intent=conv.intent,
            created_at=received,
        )
        session.add(inbound)
        created = NewEvent(
            type="support.ticket.created",
            aggregate_type="ticket",
            aggregate_id=ticket.id,
            data={
                "ticket_id": ticket.id,
                "number": number,
                "message_id": inbound.id,
                "contact_id": contact.id,
                "priority": ticket.priority,
            },
            occurred_at=received,
        )
        if conv.reply is None:
            open_events.append(created)
            continue
        answered = received + dt.timedelta(minutes=rng.randint(20, 300))
        session.add(
            TicketMessage(
                id=new_id(),
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                direction="outbound",
                from_address=SUPPORT_ADDRESS,
                from_name="Northwind Support",
                to_addresses=[contact.email or ""],
                subject=f"Re: {conv.subject} [{number}]",
                body=f"Hi {first_name},\n\n{conv.reply}\n\nBest,\nNorthwind Support",
                header_message_id=f"<{new_id()}@northwind.example>",
                in_reply_to=inbound.header_message_id,
                references=[inbound.header_message_id or ""],
                created_at=answered,
            )
        )
        ticket.first_responded_at = answered
        ticket.last_outbound_at = answered
        ticket.resolved_at = answered + dt.timedelta(hours=rng.randint(1, 48))
        ticket.updated_at = ticket.resolved_at
        events.append(created)
        events.append(
            NewEvent(
                type="support.ticket.resolved",
                aggregate_type="ticket",
                aggregate_id=ticket.id,
                data={"ticket_id": ticket.id},
                occurred_at=ticket.resolved_at,
            )
        )
    await session.flush()
    events.sort(key=lambda e: e.occurred_at or now)
    written = await append_events(session, ctx, events)
    await mark_handled(session, ctx, [(row["id"], row["type"]) for row in written])
    await append_events(session, ctx, open_events)  # left for the workers: AI drafts
