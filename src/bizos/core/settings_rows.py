"""Per-tenant settings rows: one row per tenant, created on the first change, versioned.

The one home for what every module's settings do alike: read the row (or the defaults
when there is none), check ``If-Match``, refuse clearing a required field, create the
row on first change (a concurrent first change is a 409, not a duplicate), apply only
what differs, bump the version and record one ``<module>.settings.updated`` event naming
the fields changed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.versions import check_version


class SettingsRow(Protocol):
    id: Any
    tenant_id: Any
    version: Any


Row = TypeVar("Row", bound=SettingsRow)


async def stored_row(
    session: AsyncSession, ctx: Context, model: type[Row], *, for_update: bool = False
) -> Row | None:
    """The tenant's row of ``model``, if it has one (locked with ``for_update``)."""
    query = sa.select(model).where(model.tenant_id == ctx.require_tenant())
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    row: Row | None = await session.scalar(query)
    return row


def refuse_nulls(changes: Mapping[str, Any], not_null: Collection[str]) -> None:
    nulls = [k for k in not_null if k in changes and changes[k] is None]
    if nulls:
        raise Unprocessable(
            "these settings cannot be cleared",
            errors=[field_error(["body", k], "may not be null") for k in nulls],
        )


def _differs(old: Any, new: Any) -> bool:
    return bool(old != new)


async def apply_settings(
    session: AsyncSession,
    ctx: Context,
    model: type[Row],
    *,
    defaults: Callable[[str], Row],
    changes: Mapping[str, Any],
    if_match: str | None,
    event_type: str,
    what: str = "settings",
    differs: Callable[[Any, Any], bool] = _differs,
) -> Row:
    """Apply ``changes`` (already validated) to the tenant's row and record the event.

    Nothing is written, and no event recorded, when nothing differs."""
    row = await stored_row(session, ctx, model, for_update=True)
    check_version(if_match, row.version if row is not None else 0)
    if row is None:
        row = defaults(ctx.require_tenant())
        row.version = 1
        for key, value in changes.items():
            setattr(row, key, value)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            raise Conflict(f"the {what} were changed concurrently; re-read and retry") from None
        changed = sorted(changes)
    else:
        changed = sorted(k for k, v in changes.items() if differs(getattr(row, k), v))
        if not changed:
            return row
        for key in changed:
            setattr(row, key, changes[key])
        row.version += 1
        await session.flush()
    await append_event(
        session,
        ctx,
        event_type,
        aggregate_type=event_type.rsplit(".", 1)[0].replace(".", "_"),
        aggregate_id=row.id,
        version=row.version,
        data={"changed": changed},
    )
    return row
