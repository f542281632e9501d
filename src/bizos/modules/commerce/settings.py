"""The tenant's commerce settings: one row, or the defaults while it has none.

``load_settings`` never writes: a tenant that never changed anything reads the column
defaults from a transient row. ``update_settings`` creates the row on first change and
bumps its version after that (``If-Match`` guards it like every other update).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.pagination import PageParams
from bizos.core.versions import check_version
from bizos.modules.commerce.models import CommerceSettings
from bizos.modules.identity import service as identity_service

TaxRate = Annotated[Decimal, Field(ge=0, lt=1, max_digits=6, decimal_places=4)]
UserId = Annotated[str, Field(min_length=1, max_length=36)]


class CommerceSettingsRead(BaseModel):
    orders_from_won_deals: bool
    default_tax_rate: Decimal = Field(description="A fraction: 0.2 is 20%.")
    payment_terms_days: int
    notify_customer: bool
    purchasing_assignee_id: str | None
    operations_assignee_id: str | None
    ship_from: dict[str, Any] | None
    default_parcel: dict[str, Any] | None
    version: int


class CommerceSettingsUpdate(BaseModel):
    """Only the fields sent change; ``null`` clears an assignee (back to the owner)."""

    model_config = ConfigDict(extra="forbid")
    orders_from_won_deals: bool | SkipJsonSchema[None] = None
    default_tax_rate: TaxRate | SkipJsonSchema[None] = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | SkipJsonSchema[None] = None
    notify_customer: bool | SkipJsonSchema[None] = None
    purchasing_assignee_id: UserId | None = None
    operations_assignee_id: UserId | None = None
    ship_from: dict[str, Any] | None = None
    default_parcel: dict[str, Any] | None = None


_NOT_NULL = (
    "orders_from_won_deals",
    "default_tax_rate",
    "payment_terms_days",
    "notify_customer",
)
_ASSIGNEES = ("purchasing_assignee_id", "operations_assignee_id")


def _defaults(tenant_id: str) -> CommerceSettings:
    return CommerceSettings(
        tenant_id=tenant_id,
        orders_from_won_deals=False,
        default_tax_rate=Decimal("0"),
        payment_terms_days=14,
        notify_customer=True,
        purchasing_assignee_id=None,
        operations_assignee_id=None,
        ship_from=None,
        default_parcel=None,
        version=0,
    )


def settings_read(row: CommerceSettings) -> CommerceSettingsRead:
    return CommerceSettingsRead(
        orders_from_won_deals=row.orders_from_won_deals,
        default_tax_rate=Decimal(row.default_tax_rate),
        payment_terms_days=row.payment_terms_days,
        notify_customer=row.notify_customer,
        purchasing_assignee_id=row.purchasing_assignee_id,
        operations_assignee_id=row.operations_assignee_id,
        ship_from=row.ship_from,
        default_parcel=row.default_parcel,
        version=row.version,
    )


async def _stored(
    session: AsyncSession, ctx: Context, *, for_update: bool = False
) -> CommerceSettings | None:
    query = sa.select(CommerceSettings).where(CommerceSettings.tenant_id == ctx.require_tenant())
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    row: CommerceSettings | None = await session.scalar(query)
    return row


async def load_settings(session: AsyncSession, ctx: Context) -> CommerceSettings:
    """The tenant's settings row, or a transient one holding the defaults (version 0)."""
    return await _stored(session, ctx) or _defaults(ctx.require_tenant())


async def _check_assignee(session: AsyncSession, ctx: Context, field: str, user_id: str) -> None:
    try:
        user = await identity_service.get_user(session, ctx, user_id=user_id)
    except NotFound:
        user = None
    if user is None or not user.is_active:
        raise Unprocessable(
            "the assignee must be an active user of this workspace",
            errors=[field_error(["body", field], "no such active user")],
        )


async def update_settings(
    session: AsyncSession,
    ctx: Context,
    *,
    changes: dict[str, Any],
    if_match: str | None = None,
) -> CommerceSettings:
    """Apply the fields sent (``commerce.settings.updated``); the row is created on first
    change. Assignees must be active users of the tenant."""
    nulls = [k for k in _NOT_NULL if k in changes and changes[k] is None]
    if nulls:
        raise Unprocessable(
            "these settings cannot be cleared",
            errors=[field_error(["body", k], "may not be null") for k in nulls],
        )
    for field in _ASSIGNEES:
        if changes.get(field) is not None:
            await _check_assignee(session, ctx, field, changes[field])
    row = await _stored(session, ctx, for_update=True)
    check_version(if_match, row.version if row is not None else 0)
    if row is None:
        row = _defaults(ctx.require_tenant())
        row.version = 1
        for key, value in changes.items():
            setattr(row, key, value)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            raise Conflict("the settings were changed concurrently; re-read and retry") from None
    else:
        changes = {k: v for k, v in changes.items() if getattr(row, k) != v}
        if not changes:
            return row
        for key, value in changes.items():
            setattr(row, key, value)
        row.version += 1
        await session.flush()
    await append_event(
        session,
        ctx,
        "commerce.settings.updated",
        aggregate_type="commerce_settings",
        aggregate_id=row.id,
        version=row.version,
        data={"changed": sorted(changes)},
    )
    return row


async def active_user_id(session: AsyncSession, ctx: Context, user_id: str | None) -> str | None:
    if user_id is None:
        return None
    try:
        user = await identity_service.get_user(session, ctx, user_id=user_id)
    except NotFound:
        return None
    return user.id if user.is_active else None


async def tenant_owner_id(session: AsyncSession, ctx: Context) -> str | None:
    """An active owner of the workspace (the oldest), if there is one."""
    owners = await identity_service.list_users(
        session, ctx, page=PageParams(limit=1), role="owner", is_active=True
    )
    return owners.items[0].id if owners.items else None


async def operations_assignee(session: AsyncSession, ctx: Context) -> str | None:
    """Who gets failed-order tasks: the configured, still active user, else the owner."""
    settings = await load_settings(session, ctx)
    return await active_user_id(
        session, ctx, settings.operations_assignee_id
    ) or await tenant_owner_id(session, ctx)


async def purchasing_assignee(session: AsyncSession, ctx: Context) -> str | None:
    """Who gets purchasing tasks: the configured, still active user, else the owner."""
    settings = await load_settings(session, ctx)
    return await active_user_id(
        session, ctx, settings.purchasing_assignee_id
    ) or await tenant_owner_id(session, ctx)
