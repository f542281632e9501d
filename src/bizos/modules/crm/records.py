"""The reads every CRM part starts from: one record of the tenant by id (or 404), one
page of a list, and the notes or attachments on a set of records.

Kept on its own, below the parts, so that any part can find another's rows (assignment
a lead, notes a deal) without importing the part's service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.events import NewEvent, append_events, append_row_event
from bizos.core.pagination import ListOrder, PageParams
from bizos.modules.crm.models import Attachment, Company, Contact, Note

Row = TypeVar("Row")
T = TypeVar("T")
Query = TypeVar("Query", bound=sa.Select[Any])


async def tenant_row(
    session: AsyncSession,
    ctx: Context,
    model: type[Row],
    record_id: str,
    *,
    what: str,
    lock: bool = False,
) -> Row:
    """The tenant's ``model`` row with this id, else 404 "``what`` not found" (another
    tenant's id included). ``lock`` row-locks it for a write and refreshes a copy the
    session already holds, so the write starts from what the database has."""
    table: Any = model
    query = sa.select(model).where(table.tenant_id == ctx.require_tenant(), table.id == record_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def on_subjects(
    ctx: Context,
    model: type[Note] | type[Attachment],
    subject_type: str,
    subject_ids: Sequence[str],
) -> sa.ColumnElement[bool]:
    """The condition for the tenant's notes or attachments on these records."""
    return sa.and_(
        model.tenant_id == ctx.require_tenant(),
        model.subject_type == subject_type,
        model.subject_id.in_(list(subject_ids)),
    )


def live(ctx: Context, model: type[Company] | type[Contact]) -> sa.ColumnElement[bool]:
    """The condition for the tenant's companies or contacts that were not merged away."""
    return sa.and_(model.tenant_id == ctx.require_tenant(), model.merged_into_id.is_(None))


def where_equal(query: Query, filters: Iterable[tuple[Any, object | None]]) -> Query:
    """``query`` narrowed to rows whose column equals each given value; a filter given
    as None is not applied."""
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    return query


async def read_page(
    session: AsyncSession, order: ListOrder, query: sa.Select[Row], page: PageParams
) -> tuple[list[Row], str | None]:
    """One page of ``query``'s rows in ``page``'s order, and the next page's cursor."""
    rows = list(await session.scalars(order.apply(query, page)))
    return order.take_page(rows, page)


async def record_event(
    session: AsyncSession,
    ctx: Context,
    event_type: str,
    row: Any,
    aggregate_type: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Append ``event_type`` about ``row`` (an ``aggregate_type`` record, at its id and
    current version) to the outbox."""
    await append_row_event(session, ctx, event_type, row, aggregate_type=aggregate_type, data=data)


def normalized(
    normalize: Callable[[str], T],
    value: str,
    invalid: type[ValueError],
    loc: list[str],
    title: str | None = None,
) -> T:
    """``normalize(value)``; when it raises ``invalid``, a 422 naming the field at ``loc``
    (``["query", "email"]``) with its message (and ``title``, when given, as the detail)."""
    try:
        return normalize(value)
    except invalid as exc:
        raise Unprocessable(title or str(exc), errors=[field_error(loc, str(exc))]) from exc


async def record_new_event(
    session: AsyncSession,
    ctx: Context,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    data: dict[str, Any],
    version: int = 1,
) -> None:
    """Append ``event_type`` about the ``aggregate_type`` record ``aggregate_id`` to the
    outbox, at ``version`` (1 for records that keep no version, or a first event)."""
    event = NewEvent(event_type, aggregate_type, aggregate_id, data, version)
    await append_events(session, ctx, [event])
