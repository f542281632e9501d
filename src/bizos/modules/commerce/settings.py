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
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.pagination import PageParams
from bizos.core.settings_rows import apply_settings, refuse_nulls, stored_row
from bizos.modules.commerce.models import CommerceSettings
from bizos.modules.identity import service as identity_service

log = structlog.get_logger("bizos.commerce.settings")

TaxRate = Annotated[Decimal, Field(ge=0, lt=1, max_digits=6, decimal_places=4)]
UserId = Annotated[str, Field(min_length=1, max_length=36)]
Centimetres = Annotated[Decimal, Field(gt=0, le=1000, description="Centimetres.")]
Kilograms = Annotated[Decimal, Field(gt=0, le=10000, description="Kilograms.")]

# The spelling the label step read before the setting was typed: sizes in
# ``distance_unit``, a weight in ``mass_unit``. Converted on the way in.
_CM_PER_UNIT = {
    "cm": Decimal("1"),
    "mm": Decimal("0.1"),
    "m": Decimal("100"),
    "in": Decimal("2.54"),
}
_KG_PER_UNIT = {
    "kg": Decimal("1"),
    "g": Decimal("0.001"),
    "lb": Decimal("0.45359237"),
    "oz": Decimal("0.028349523125"),
}
_LEGACY_SIZES = {"length": "length_cm", "width": "width_cm", "height": "height_cm"}
_LEGACY_KEYS = (*_LEGACY_SIZES, "distance_unit", "weight", "mass_unit")


def _number(value: Any, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{key} must be a number")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"{key} must be a number") from None
    if not number.is_finite():
        raise ValueError(f"{key} must be a finite number")
    return number


def _from_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """``length``/``width``/``height`` in ``distance_unit`` (default cm) and ``weight``
    in ``mass_unit`` (default kg), as ``*_cm`` and ``weight_kg``. A size given in both
    spellings is refused: which one was meant?"""
    out = {k: v for k, v in data.items() if k not in _LEGACY_KEYS}
    unit = str(data.get("distance_unit") or "cm").strip().lower()
    mass = str(data.get("mass_unit") or "kg").strip().lower()
    if unit not in _CM_PER_UNIT:
        raise ValueError(f"distance_unit must be one of {', '.join(_CM_PER_UNIT)}")
    if mass not in _KG_PER_UNIT:
        raise ValueError(f"mass_unit must be one of {', '.join(_KG_PER_UNIT)}")
    for old, new in (*_LEGACY_SIZES.items(), ("weight", "weight_kg")):
        if old not in data or data[old] is None:
            continue
        if new in data:
            raise ValueError(f"give {new} or {old}, not both")
        factor = _KG_PER_UNIT[mass] if old == "weight" else _CM_PER_UNIT[unit]
        value = _number(data[old], old) * factor
        out[new] = value if factor == 1 else value.quantize(Decimal("0.001"))
    return out


class DefaultParcel(BaseModel):
    """The box labels are bought for: its sizes, and the weight to declare when the
    order's products have none (else their weights are added up)."""

    model_config = ConfigDict(extra="forbid")
    length_cm: Centimetres
    width_cm: Centimetres
    height_cm: Centimetres
    weight_kg: Kilograms | None = Field(
        default=None,
        description="Declared when the products carry no weight; without it, 1 kg.",
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_legacy_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(key in data for key in _LEGACY_KEYS):
            return _from_legacy(data)
        return data

    def stored(self) -> dict[str, Any]:
        """The JSON kept in ``commerce_settings.default_parcel``."""
        return self.model_dump(mode="json", exclude_none=True)


# What a label is bought for while the tenant set no parcel.
DEFAULT_PARCEL = DefaultParcel(length_cm=Decimal(30), width_cm=Decimal(20), height_cm=Decimal(10))
DEFAULT_PARCEL_WEIGHT_KG = Decimal("1")
_PARCEL_KEYS = (*DefaultParcel.model_fields, *_LEGACY_KEYS)


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
    known = {k: v for k, v in value.items() if k in _PARCEL_KEYS and v is not None}
    try:
        given = DefaultParcel.model_validate({**DEFAULT_PARCEL.stored(), **_from_legacy(known)})
    except (ValidationError, ValueError) as exc:
        log.warning("commerce.default_parcel_unreadable", reason=type(exc).__name__)
        return None
    return given


def parcel_for_labels(row: CommerceSettings) -> DefaultParcel:
    """The box the label step buys for: the tenant's parcel, else 30 x 20 x 10 cm."""
    return stored_parcel(row.default_parcel) or DEFAULT_PARCEL


class CommerceSettingsRead(BaseModel):
    orders_from_won_deals: bool
    default_tax_rate: Decimal = Field(description="A fraction: 0.2 is 20%.")
    payment_terms_days: int
    notify_customer: bool
    purchasing_assignee_id: str | None
    operations_assignee_id: str | None
    ship_from: dict[str, Any] | None
    default_parcel: DefaultParcel | None = Field(
        description="null: labels are bought for 30 x 20 x 10 cm, 1 kg unless the "
        "products carry weights."
    )
    version: int


class CommerceSettingsUpdate(BaseModel):
    """Only the fields sent change; ``null`` clears an assignee (back to the owner)."""

    model_config = ConfigDict(extra="forbid")
    orders_from_won_deals: bool | SkipJsonSchema[None] = None
    default_tax_rate: TaxRate | SkipJsonSchema[None] = None
    payment_terms_days: Annotated[StrictInt, Field(ge=0, le=365)] | SkipJsonSchema[None] = None
    notify_customer: bool | SkipJsonSchema[None] = None
    purchasing_assignee_id: UserId | None = None
    operations_assignee_id: UserId | None = None
    ship_from: dict[str, Any] | None = None
    default_parcel: DefaultParcel | None = None


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
        default_parcel=stored_parcel(row.default_parcel),
        version=row.version,
    )


async def load_settings(session: AsyncSession, ctx: Context) -> CommerceSettings:
    """The tenant's settings row, or a transient one holding the defaults (version 0)."""
    return await stored_row(session, ctx, CommerceSettings) or _defaults(ctx.require_tenant())


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
    refuse_nulls(changes, _NOT_NULL)
    for field in _ASSIGNEES:
        if changes.get(field) is not None:
            await _check_assignee(session, ctx, field, changes[field])
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
