"""What every commerce sub-module does with its rows: read one of the tenant's (or 404),
read a page of them, and hand a row to its Read schema.

Kept beside ``models.py`` because inventory, orders, fulfilment and settings all read the
same way; a module of its own so none of them imports another just for this.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Annotated, Any, Protocol, TypeVar

import sqlalchemy as sa
from fastapi import Response
from pydantic import AfterValidator, BeforeValidator
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bizos.core.context import Context
from bizos.core.errors import NotFound
from bizos.core.events import append_row_event
from bizos.core.money import cents
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.versions import version_etag

RowT = TypeVar("RowT")


class _Versioned(Protocol):
    version: int


ReadT = TypeVar("ReadT", bound=_Versioned)

# In a Read schema: an amount as the API shows it (to the cent), and a JSON object
# column (a stored JSON null reads as an empty object).
Cents = Annotated[Decimal, AfterValidator(cents)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(lambda value: value or {})]


async def tenant_row(
    session: AsyncSession,
    ctx: Context,
    model: type[RowT],
    row_id: str,
    *,
    what: str,
    lock: bool = False,
    fresh: bool = False,
) -> RowT:
    """The tenant's ``model`` row ``row_id``; 404 (``"<what> not found"``) for an unknown
    id or another tenant's. ``lock`` takes the row lock (and re-reads the row), ``fresh``
    re-reads it: a conditional ``UPDATE`` may have changed it behind the identity map."""
    query = sa.select(model).where(
        model.tenant_id == ctx.require_tenant(),  # type: ignore[attr-defined]
        model.id == row_id,  # type: ignore[attr-defined]
    )
    if lock:
        query = query.with_for_update()
    if lock or fresh:
        query = query.execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"{what} not found")
    return row


async def rows_among(
    session: AsyncSession,
    ctx: Context,
    model: type[RowT],
    column: sa.ColumnElement[Any] | InstrumentedAttribute[Any],
    values: Collection[Any],
) -> list[RowT]:
    """The tenant's ``model`` rows whose ``column`` is among ``values`` (none for none)."""
    if not values:
        return []
    tenant = model.tenant_id == ctx.require_tenant()  # type: ignore[attr-defined]
    return list(await session.scalars(sa.select(model).where(tenant, column.in_(list(values)))))


async def page_of(
    session: AsyncSession, order: ListOrder, query: Any, page: PageParams
) -> tuple[list[Any], str | None]:
    """One page of ``query``'s rows in ``page``'s order, and the cursor to the next."""
    rows = list(await session.scalars(order.apply(query, page)))
    return order.take_page(rows, page)


def where_equal(query: Any, model: type, filters: Mapping[str, object]) -> Any:
    """``query`` narrowed to ``model.<name> == value`` for each filter whose value is given."""
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(model, name) == value)
    return query


async def emit(
    session: AsyncSession,
    ctx: Context,
    type_: str,
    row: Any,
    aggregate_type: str,
    data: dict[str, Any],
) -> None:
    """Append event ``type_`` about ``row`` (its id and version) to the outbox."""
    await append_row_event(session, ctx, type_, row, aggregate_type=aggregate_type, data=data)


def pick(row: object, *names: str) -> dict[str, Any]:
    """The row's ``names`` attributes, in that order (a slice of it for event data)."""
    return {name: getattr(row, name) for name in names}


def columns(row: object) -> dict[str, Any]:
    """The row's column values by attribute name: what its Read schema starts from."""
    mapper = sa.inspect(row).mapper
    return {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs}


def with_etag(response: Response, read: ReadT) -> ReadT:
    """``read``, its version sent as the response's ``ETag`` (for ``If-Match``)."""
    response.headers["ETag"] = version_etag(read.version)
    return read
