"""Replies to the CRM's own email: a lead answering its first email (or a contact
answering an email sent about them) through the inbound email path.

How a reply is recognised: by its thread, not its sender. Its ``In-Reply-To`` or
``References`` names the ``Message-ID`` of an email we sent about a lead or a contact
(the first outreach email is ``related`` to its lead). A message that only comes from a
known contact is a new conversation, and support files it as a ticket as before.

What filing does, in the caller's transaction:

* ``crm.contact.replied`` on the contact (followed through merges), stamped with when
  the reply arrived and carrying who wrote, the subject and the new text (the quoted
  history cut off; at most 4,000 characters), the lead, and the email it answers; the
  contact timeline shows it as an inbound email (``message.email.inbound``);
* the contact's ``last_replied_at`` moves to that moment;
* the lead's owner (else the contact's) is notified (``lead.replied``).

No ticket is opened: a prospect answering their salesperson is not a support case,
and no AI draft or SLA clock should start on it. A copy of the workspace's own side of
the conversation (from the address the email went from or asked replies to) is left
alone, and automatic answers (out-of-office) never get here: support drops them first.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound
from bizos.core.events import NewEvent, append_events
from bizos.modules.crm.contacts import service as contacts
from bizos.modules.crm.leads.schemas import FiledReply as FiledReply
from bizos.modules.crm.leads.schemas import InboundReply as InboundReply
from bizos.modules.crm.models import Lead
from bizos.modules.crm.records import tenant_row
from bizos.modules.crm.timeline import REPLY_EVENT
from bizos.modules.notifications import service as notifications
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import MessageRead

log = structlog.get_logger("bizos.crm.leads")

# What the CRM's own emails are about (``related.type``); others belong to their module.
CONVERSATIONS = ("lead", "contact")
MAX_TEXT = 4000


def _answered(sent: Sequence[MessageRead]) -> MessageRead | None:
    return next((m for m in sent if m.related and m.related.type in CONVERSATIONS), None)


async def file_reply(
    session: AsyncSession, ctx: Context, *, thread_ids: Sequence[str], reply: InboundReply
) -> FiledReply | None:
    """File ``reply`` on the contact's timeline when its thread names an email the CRM
    sent; ``None`` when it answers none (or the lead or contact is gone), for the
    caller to file it its own way."""
    answered = _answered(await outreach.find_sent(session, ctx, header_ids=thread_ids))
    if answered is None or answered.related is None:
        return None
    lead_id: str | None = None
    owner_id: str | None = None
    try:
        if answered.related.type == "lead":
            lead = await tenant_row(session, ctx, Lead, answered.related.id, what="lead")
            lead_id, owner_id = lead.id, lead.owner_id
            contact = await contacts.get_contact(session, ctx, lead.contact_id)
        else:
            contact = await contacts.get_contact(session, ctx, answered.related.id)
    except NotFound:
        return None
    ours = {a.strip().lower() for a in (answered.from_, answered.reply_to) if a}
    if reply.sender.strip().lower() in ours:
        return FiledReply(contact.id, lead_id, answered.id, ignored="our own side of the thread")
    name = reply.sender_name or contact.name or reply.sender
    text = reply.text.strip()[:MAX_TEXT]
    await append_events(
        session,
        ctx,
        [
            NewEvent(
                type=REPLY_EVENT,
                aggregate_type="contact",
                aggregate_id=contact.id,
                version=contact.version,
                occurred_at=reply.received_at,
                data={
                    "contact_id": contact.id,
                    "lead_id": lead_id,
                    "from": reply.sender,
                    "from_name": reply.sender_name,
                    "subject": reply.subject,
                    "text": text,
                    "message_id": reply.message_id,
                    "in_reply_to": answered.id,
                    "inbound_id": reply.inbound_id,
                },
            )
        ],
    )
    await contacts.record_activity(session, ctx, contact.id, at=reply.received_at, kind="replied")
    owner_id = owner_id or contact.owner_id
    if owner_id is not None:
        await notifications.notify(
            session,
            ctx,
            user_id=owner_id,
            kind="lead.replied",
            title=f"{name} replied to your email"[:300],
            body=text[:500] or None,
            related_type="lead" if lead_id else "contact",
            related_id=lead_id or contact.id,
            data={"contact_id": contact.id, "subject": reply.subject},
        )
    log.info("crm.contact.replied", contact_id=contact.id, lead_id=lead_id)
    return FiledReply(contact.id, lead_id, answered.id)
