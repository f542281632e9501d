"""What every demo seeder shares: a story of rows and events built in memory in the order
things happened, ids that sort by when, and writing the story as history already handled.

Each business area's seeder (``crm``, ``commerce``, ``billing``, ``finance``, ``support``)
builds its year as rows stamped with the moment each thing happened, next to the domain
event the service would have appended. The services stamp "now" on what they write, so
the history is written here in bulk; then its events are recorded as processed by every
subscriber they match (they already had their effects), so starting the server does not
replay a year of flows, tasks and notifications.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import Database, get_database, utcnow
from bizos.core.dispatcher import Dispatcher
from bizos.core.dispatcher_models import PROCESSED
from bizos.core.events import NewEvent, append_events, payload
from bizos.core.pagination import PageParams
from bizos.core.sequences import NumberSeries
from bizos.modules.identity import service as identity
from bizos.modules.notifications.models import Notification
from bizos.modules.work.models import Task
from bizos.registry import register_subscribers

CURRENCY = "USD"
DAY = dt.timedelta(days=1)
_BATCH = 1000
_HANDLED_BATCH = 5000


def historical_id(at: dt.datetime) -> str:
    """A UUIDv7 whose time part is ``at``, so ids sort the way the history happened."""
    millis = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = secrets.randbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62)
    return str(uuid.UUID(int=value | (rand & ((1 << 62) - 1))))


def stamped(at: dt.datetime) -> dict[str, Any]:
    """A new row's bookkeeping: its first version, created and last updated ``at``."""
    return {"version": 1, "created_at": at, "updated_at": at}


def copied(row: object, *names: str) -> dict[str, Any]:
    """``row``'s attributes ``names`` as they are, for a row that takes them over."""
    return {name: getattr(row, name) for name in names}


def _related_row(related: tuple[str, str]) -> dict[str, str]:
    """A task's or notification's ``related_type`` and ``related_id``."""
    return {"related_type": related[0], "related_id": related[1]}


class Chronicle:
    """Rows and events of a history, built in memory in the order things happened.

    Everything is drawn from ``rng`` (ids aside), so the same seed and moment give the
    same history."""

    def __init__(self, rng: random.Random, now: dt.datetime) -> None:
        self.rng = rng
        self.now = now
        self.rows: list[Any] = []
        self.events: list[NewEvent] = []

    def add(self, row: Any, type_: str, aggregate: str, at: dt.datetime, **event: Any) -> None:
        """``row``, as of ``at``, and the event ``type_`` about it (its ``aggregate``)."""
        self.rows.append(row)
        self.event(type_, aggregate, row.id, at, **event)

    def event(
        self,
        type_: str,
        aggregate: str,
        aggregate_id: str,
        at: dt.datetime,
        *,
        actor_id: str | None = None,
        version: int | None = None,
        **payload: Any,
    ) -> None:
        self.events.append(
            NewEvent(
                type=type_,
                aggregate_type=aggregate,
                aggregate_id=aggregate_id,
                data=payload,
                occurred_at=at,
                actor_id=actor_id,
                version=version or 1,
            )
        )


class Story(Chronicle):
    """The trading year (commerce, billing, finance): a chronicle with the team by role
    and the notifications and tasks the services' handlers made back then."""

    def __init__(self, rng: random.Random, now: dt.datetime, team: dict[str, str]) -> None:
        super().__init__(rng, now)
        self.team = team  # user id by role ("owner", "purchasing", "operations", "sales")

    def token(self, prefix: str, length: int = 24) -> str:
        """A Stripe-style id (``pi_3Nq...``) drawn from the story's rng."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(length))

    def assignee(self, role: str) -> str:
        """Who does ``role``'s work: that person, else the owner."""
        return self.team.get(role) or self.team["owner"]

    def notify(
        self,
        *,
        user_id: str,
        kind: str,
        title: str,
        body: str,
        at: dt.datetime,
        related: tuple[str, str],
        data: dict[str, Any] | None = None,
    ) -> None:
        """A notification a service sent back then: read a day later, unless it came in
        the last three days (those are still waiting in the inbox)."""
        row = Notification(
            id=historical_id(at),
            user_id=user_id,
            kind=kind,
            title=title[:300],
            body=body,
            **_related_row(related),
            data=data or {},
            read_at=at + DAY if at < self.now - 3 * DAY else None,
            created_at=at,
            updated_at=at,
        )
        self.add(
            row,
            "notifications.notification.created",
            "notification",
            at,
            user_id=user_id,
            kind=kind,
            title=row.title,
            related={"type": related[0], "id": related[1]},
            email_message_id=None,
        )

    def task(
        self,
        *,
        title: str,
        description: str,
        assignee_id: str | None,
        created: dt.datetime,
        done_at: dt.datetime | None,
        related: tuple[str, str],
        origin: str,
        contact_id: str | None = None,
        priority: str = "high",
    ) -> Task:
        """A task a handler made back then: done at ``done_at`` if that has passed."""
        done = done_at is not None and done_at < self.now
        task = Task(
            id=historical_id(created),
            title=title[:300],
            description=description,
            assignee_id=assignee_id,
            priority=priority,
            status="done" if done else "open",
            completed_at=done_at if done else None,
            **_related_row(related),
            contact_id=contact_id,
            origin=origin,
            created_at=created,
            updated_at=done_at if done and done_at is not None else created,
        )
        where = {"type": related[0], "id": related[1]}
        self.add(
            task,
            "work.task.created",
            "task",
            created,
            actor_id=assignee_id,
            **payload(task, "title", "assignee_id", "priority"),
            due_at=None,
            related=where,
            contact_id=contact_id,
            origin=origin,
        )
        if done and done_at is not None:
            self.event(
                "work.task.completed",
                "task",
                task.id,
                done_at,
                actor_id=assignee_id,
                completed_at=done_at.isoformat(),
                related=where,
                contact_id=contact_id,
            )
        return task

    def escalate(
        self,
        role: str,
        *,
        title: str,
        body: str,
        at: dt.datetime,
        related: tuple[str, str],
        origin: str,
        kind: str,
        contact_id: str | None = None,
        done_at: dt.datetime | None = None,
        data: dict[str, Any] | None = None,
        names_task: bool = False,
    ) -> Task:
        """A task for ``role`` and the notification telling them, at ``at``: what the
        live handlers do when something needs a person. The notification carries
        ``data``, with the task's id first when ``names_task``."""
        assignee = self.assignee(role)
        task = self.task(
            title=title,
            description=body,
            assignee_id=assignee,
            created=at,
            done_at=done_at,
            related=related,
            origin=origin,
            contact_id=contact_id,
        )
        self.notify(
            user_id=assignee,
            kind=kind,
            title=title,
            body=body,
            at=at,
            related=related,
            data=({"task_id": task.id} if names_task else {}) | (data or {}),
        )
        return task


async def load_team(session: AsyncSession, ctx: Context) -> dict[str, str]:
    """The demo team by role: the owner, who buys (purchasing), who runs operations and
    who sells wholesale, by the demo's names (the owner stands in for anyone missing)."""
    page = await identity.list_users(session, ctx, page=PageParams(limit=200), is_active=True)
    owner = next(u.id for u in page.items if u.role == "owner")
    by_name = {u.name: u.id for u in page.items}
    team = {"owner": owner}
    for role, name in (("purchasing", "Luis Romero"), ("operations", "Maya Okafor")):
        if name in by_name:
            team[role] = by_name[name]
    team["sales"] = by_name.get("Hana Sato", owner)
    return team


async def write_story(session: AsyncSession, ctx: Context, story: Chronicle) -> int:
    """Rows in bulk, events in the order things happened, and those events recorded as
    handled by every subscriber (they already had their effects). Returns the events."""
    await insert_rows(session, ctx, story.rows)
    return await append_handled(session, ctx, story.events)


async def append_handled(session: AsyncSession, ctx: Context, events: list[NewEvent]) -> int:
    """Append ``events`` in the order they happened, recorded as already handled."""
    ordered = sorted(events, key=lambda e: e.occurred_at or utcnow())
    written = await append_events(session, ctx, ordered)
    await mark_handled(session, ctx, [(row["id"], row["type"]) for row in written])
    return len(written)


async def insert_rows(session: AsyncSession, ctx: Context, rows: list[Any]) -> None:
    """ORM bulk inserts, a statement per table and batch: the unit of work's bookkeeping
    for thousands of objects that are never read back would cost seconds."""
    tenant_id = ctx.require_tenant()
    by_model: dict[type[Any], list[dict[str, Any]]] = {}
    for row in rows:
        mapper = sa.inspect(type(row))
        values = {
            attr.key: getattr(row, attr.key)
            for attr in mapper.column_attrs
            if attr.key in row.__dict__
        }
        values["tenant_id"] = tenant_id
        by_model.setdefault(type(row), []).append(values)
    for model, values_list in by_model.items():
        for start in range(0, len(values_list), _BATCH):
            await session.execute(sa.insert(model), values_list[start : start + _BATCH])


def subscribers(database: Database | None = None) -> Dispatcher:
    """A dispatcher holding every manifest's subscribers (nothing runs)."""
    registry = Dispatcher(database or get_database())
    register_subscribers(registry)
    return registry


async def mark_handled(session: AsyncSession, ctx: Context, events: list[tuple[str, str]]) -> int:
    """Record ``(id, type)`` events as processed by every subscriber they match, so the
    dispatcher does not start lead flows, order-to-cash, purchasing tasks or budget
    alerts for history. Returns how many records were written."""
    registry = subscribers()
    tenant_id, now = ctx.require_tenant(), utcnow()
    records = [
        {"subscriber": sub.name, "event_id": event_id, "tenant_id": tenant_id, "processed_at": now}
        for event_id, type_ in events
        for sub in registry.subscriptions
        if sub.matches(type_)
    ]
    for start in range(0, len(records), _HANDLED_BATCH):
        await session.execute(sa.insert(PROCESSED), records[start : start + _HANDLED_BATCH])
    return len(records)


async def set_series(session: AsyncSession, ctx: Context, **values: int) -> None:
    """Each number series stands at its last number: the next live one follows on."""
    tenant_id = ctx.require_tenant()
    for name, value in values.items():
        await session.execute(
            sa.insert(NumberSeries).values(tenant_id=tenant_id, name=name, value=value)
        )
