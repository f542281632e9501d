"""The tenant's commerce settings: one row, or the defaults while it has none.

``load_settings`` never writes: a tenant that never changed anything reads the column
defaults from a transient row. ``update_settings`` creates the row on first change and
bumps its version after that (``If-Match`` guards it like every other update).

``default_parcel`` is typed (:class:`DefaultParcel`: ``length_cm``, ``width_cm``,
``height_cm``, optional ``weight_kg``) and stored in that spelling; the label step reads
it through :func:`parcel_for_labels`, the one place that turns the setting into a box.
The spelling the label step used to read (``length``/``width``/``height`` with
``distance_unit``, ``weight`` with ``mass_unit``) is still accepted, on input and in
rows stored before, and converted to centimetres and kilograms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound
from bizos.core.settings_rows import apply_settings, refuse_nulls, stored_row
from bizos.modules.commerce.models import CommerceSettings
from bizos.modules.commerce.rows import columns
from bizos.modules.commerce.settings.schemas import (
    DEFAULT_PARCEL,
    PARCEL_KEYS,
    CommerceSettingsRead,
    DefaultParcel,
    from_legacy_spelling,
)
from bizos.modules.identity import service as identity_service

log = structlog.get_logger("bizos.commerce.settings")


def stored_parcel(value: Any) -> DefaultParcel | None:
    """The parcel a settings row holds, in whichever spelling it was stored; ``None``
    when it holds none. Unknown keys are ignored and a size it lacks is the default's
    (as the label step always did); a row that cannot be read counts as none, with a
    warning in the log."""
    if not value:
        return None
    if not isinstance(value, dict):
        log.warning("commerce.default_parcel_unreadable", reason="not an object")
        return None
    known = {k: v for k, v in value.items() if k in PARCEL_KEYS and v is not None}
    try:
        given = DefaultParcel.model_validate(
            {**DEFAULT_PARCEL.stored(), **from_legacy_spelling(known)}
        )
    except (ValidationError, ValueError) as exc:
        log.warning("commerce.default_parcel_unreadable", reason=type(exc).__name__)
        return None
    return given


def parcel_for_labels(row: CommerceSettings) -> DefaultParcel:
    """The box the label step buys for: the tenant's parcel, else 30 x 20 x 10 cm."""
    return stored_parcel(row.default_parcel) or DEFAULT_PARCEL


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
    return CommerceSettingsRead.model_validate(
        {**columns(row), "default_parcel": stored_parcel(row.default_parcel)}
    )


async def load_settings(session: AsyncSession, ctx: Context) -> CommerceSettings:
    """The tenant's settings row, or a transient one holding the defaults (version 0)."""
    return await stored_row(session, ctx, CommerceSettings) or _defaults(ctx.require_tenant())


async def update_settings(
    session: AsyncSession,
    ctx: Context,
    *,
    changes: dict[str, Any],
    if_match: str | None = None,
) -> CommerceSettings:
    """Apply the fields sent (``commerce.settings.updated``); the row is created on first
    change. Assignees must be active users of the tenant."""
    refuse_nulls(changes, _NOT_NULL)
    for field in _ASSIGNEES:
        if changes.get(field) is not None:
            await identity_service.require_assignee(session, ctx, changes[field], field=field)
    if changes.get("default_parcel") is not None:
        changes["default_parcel"] = DefaultParcel.model_validate(changes["default_parcel"]).stored()
    return await apply_settings(
        session,
        ctx,
        CommerceSettings,
        defaults=_defaults,
        changes=changes,
        if_match=if_match,
        event_type="commerce.settings.updated",
        what="settings",
    )


async def active_user_id(session: AsyncSession, ctx: Context, user_id: str | None) -> str | None:
    if user_id is None:
        return None
    try:
        user = await identity_service.get_user(session, ctx, user_id=user_id)
    except NotFound:
        return None
    return user.id if user.is_active else None


async def operations_assignee(session: AsyncSession, ctx: Context) -> str | None:
    """Who gets failed-order tasks: the configured, still active user, else the owner."""
    return await _assignee((await load_settings(session, ctx)).operations_assignee_id, session, ctx)


async def purchasing_assignee(session: AsyncSession, ctx: Context) -> str | None:
    """Who gets purchasing tasks: the configured, still active user, else the owner."""
    return await _assignee((await load_settings(session, ctx)).purchasing_assignee_id, session, ctx)


async def _assignee(configured: str | None, session: AsyncSession, ctx: Context) -> str | None:
    return await active_user_id(session, ctx, configured) or await identity_service.tenant_owner_id(
        session, ctx
    )
