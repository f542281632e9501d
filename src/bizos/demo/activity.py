"""Three months of engagement from prospects, as ``/api/v1/track`` would have recorded
it: opened and clicked emails, viewed pages, answered calls, filled-in forms. The CRM
history runs after it, so lead scores count that engagement."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.events import NewEvent, append_events

ACTIVITY = ["email.opened", "page.viewed", "email.clicked", "call.answered", "form.submitted"]
PAGES = ["/pricing", "/wholesale", "/blog/brew-guide", "/subscriptions", "/contact"]
# The prospects (``buyer{i}@cafe{i % 37}.example``) whom the CRM history makes contacts.
PROSPECTS = 60
EVENTS = 600
DAYS = 90


async def seed_activity(session: AsyncSession, ctx: Context, rng: random.Random) -> None:
    """The engagement events, oldest first."""
    now = utcnow()
    prospects = [f"buyer{i}@cafe{i % 37}.example" for i in range(PROSPECTS)]
    events = []
    for _ in range(EVENTS):
        kind = rng.choice(ACTIVITY)
        email = rng.choice(prospects)
        props = {"page": rng.choice(PAGES)} if kind == "page.viewed" else {}
        events.append(
            NewEvent(
                type=f"activity.{kind}",
                aggregate_type="contact",
                aggregate_id=email,
                data={"email": email, "properties": props},
                occurred_at=now - dt.timedelta(minutes=rng.randint(1, DAYS * 24 * 60)),
            )
        )
    events.sort(key=lambda e: e.occurred_at or now)
    await append_events(session, ctx, events)
